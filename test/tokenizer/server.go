package main

import (
	"encoding/json"
	"errors"
	"net/http"
)

// maxBody bounds request bodies: values to tokenize are small.
const maxBody = 64 << 10

type tokenizeRequest struct {
	Value string `json:"value"`
}

type tokenizeResponse struct {
	Token string `json:"token"`
	KeyID string `json:"keyId"`
}

type detokenizeRequest struct {
	Token string `json:"token"`
}

type detokenizeResponse struct {
	Value string `json:"value"`
}

type keyResponse struct {
	KeyID string `json:"keyId"`
}

// newHandler serves the tokenization API:
//
//	POST /tokenize   {"value": "..."} -> {"token": "tok_...", "keyId": "..."}
//	POST /detokenize {"token": "..."} -> {"value": "..."}
//	GET  /key        {"keyId": "..."}  (which key is current; tests watch it change)
//	GET  /healthz    200 while the process serves
//	GET  /readyz     200 once a key is loaded
func newHandler(ring *keyring) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tokenize", func(w http.ResponseWriter, r *http.Request) {
		var req tokenizeRequest
		if !decode(w, r, &req) {
			return
		}
		tok, err := ring.tokenize([]byte(req.Value))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, tokenizeResponse{Token: tok, KeyID: keyIDOf(tok)})
	})
	mux.HandleFunc("POST /detokenize", func(w http.ResponseWriter, r *http.Request) {
		var req detokenizeRequest
		if !decode(w, r, &req) {
			return
		}
		value, err := ring.detokenize(req.Token)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, detokenizeResponse{Value: string(value)})
	})
	mux.HandleFunc("GET /key", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, keyResponse{KeyID: ring.currentID()})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ring.currentID() == "" {
			writeError(w, errNoKey)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

// keyIDOf extracts the key id from a token made by tokenize.
func keyIDOf(token string) string {
	const idLen = 8
	return token[len(tokenPrefix) : len(tokenPrefix)+idLen]
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid request body: " + err.Error()})
		return false
	}
	return true
}

// writeError maps the keyring's errors to statuses; messages never contain values or keys.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errNoKey):
		status = http.StatusServiceUnavailable
	case errors.Is(err, errBadToken), errors.Is(err, errUnknownKey):
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
