package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// trickle is a body that announces more than it sends: it yields its bytes, then err.
type trickle struct {
	data []byte
	err  error
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, t.err
	}
	n := copy(p, t.data)
	t.data = t.data[n:]
	return n, nil
}

func announcing(length int64, body io.Reader) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/mutate", body)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	return req
}

// A body is allocated as its bytes arrive, not from the length it announces: announcing 7 MiB
// and sending a few bytes costs a few bytes, and nothing of the budget.
func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	var budget bodyBudget
	body, charged, err := readBody(announcing(maxReviewBytes, &trickle{data: []byte(`{"a":1}`), err: io.EOF}), nil, &budget)
	if err != nil || string(body) != `{"a":1}` {
		t.Fatalf("body %q, err %v", body, err)
	}
	if cap(body) > headBytes || charged != 0 || budget.used.Load() != 0 {
		t.Errorf("7 bytes sent of 7 MiB announced: buffer of %d bytes, %d charged to the budget", cap(body), charged)
	}

	// Past the head, what is counted follows what arrived: at most twice as much.
	sent := bytes.Repeat([]byte("x"), 1<<20)
	body, charged, err = readBody(announcing(maxReviewBytes, &trickle{data: sent, err: io.EOF}), nil, &budget)
	if err != nil || len(body) != len(sent) {
		t.Fatalf("%d bytes read, err %v", len(body), err)
	}
	if charged != budget.used.Load() || charged > 2*int64(len(sent)) || int64(cap(body)) > charged+headBytes {
		t.Errorf("1 MiB sent of 7 MiB announced: buffer of %d bytes, %d charged, budget at %d", cap(body), charged, budget.used.Load())
	}
	budget.give(charged)

	// A body cut before its announced length is an error, not a shorter review.
	_, charged, err = readBody(announcing(100, &trickle{data: []byte(`{"request":{}}`), err: io.ErrUnexpectedEOF}), nil, &budget)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body: err %v", err)
	}
	budget.give(charged)

	if _, _, err := readBody(announcing(-1, bytes.NewReader(make([]byte, maxReviewBytes+1))), nil, &budget); !errors.Is(err, errTooLarge) {
		t.Errorf("a body over the limit without a length: err %v", err)
	}
}

// Over the budget, a review is refused at once, as busy with a Retry-After the API server
// passes on, naming the request; ordinary pods still get the reserve large bodies leave.
func TestBusyRefusal(t *testing.T) {
	h, _ := testHandler(prometheus.NewRegistry())
	h.bodies.total, h.bodies.reserve = 1<<20, 256<<10
	large := admissionReview(t, "Pod", "shop", `{"metadata":{"name":"big","annotations":{"x":"`+strings.Repeat("x", 200<<10)+`"}}}`)
	small := admissionReview(t, "Pod", "shop", `{"metadata":{"name":"small","annotations":{"x":"`+strings.Repeat("x", 30<<10)+`"}}}`)
	send := func(body []byte) *admissionv1.AdmissionResponse {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, announcing(int64(len(body)), bytes.NewReader(body)))
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not a review: %v: %s", err, rec.Body.Bytes())
		}
		return out.Response
	}
	isBusy := func(r *admissionv1.AdmissionResponse) bool {
		return !r.Allowed && r.Result != nil && r.Result.Code == http.StatusTooManyRequests && r.Result.Reason == metav1.StatusReasonTooManyRequests &&
			r.Result.Details != nil && r.Result.Details.RetryAfterSeconds == 1 && strings.Contains(r.Result.Message, "busy") && r.UID == "uid-1"
	}

	if r := send(large); isBusy(r) {
		t.Fatalf("refused with the budget free: %+v", r.Result)
	}
	h.bodies.used.Store(1<<20 - 256<<10) // large bodies hold all they may
	if r := send(large); !isBusy(r) {
		t.Errorf("a large body past its share: %+v, want the busy refusal with the uid", r.Result)
	}
	if r := send(small); isBusy(r) {
		t.Errorf("an ordinary pod refused while the reserve is free: %+v", r.Result)
	}
	h.bodies.used.Store(1 << 20)
	if r := send(small); !isBusy(r) {
		t.Errorf("budget full: %+v, want busy", r.Result)
	}
	if got := h.bodies.used.Load(); got != 1<<20 {
		t.Errorf("budget at %d after the requests, want them all given back (%d)", got, 1<<20)
	}
}

// A review over the size limit is refused naming its uid: with uid "" the API server shows only
// "expected response.uid" (issue 15).
func TestOversizedReviewEchoesUID(t *testing.T) {
	_, hook := testHandler(prometheus.NewRegistry())
	huge := admissionReview(t, "Pod", "shop", `{"metadata":{"name":"`+strings.Repeat("x", 8<<20)+`"}}`)
	rec := httptest.NewRecorder()
	hook.ServeHTTP(rec, announcing(int64(len(huge)), bytes.NewReader(huge)))
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("%v: %s", err, rec.Body.Bytes())
	}
	if r := out.Response; r.UID != "uid-1" || r.Allowed || r.Result.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("response %+v, want 413 for uid-1", r)
	}
}

func TestScanIdentity(t *testing.T) {
	const review = `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":{"kind":"Pod"},"object":{"metadata":{"name":"x"}}}}`
	for cut := range len(review) + 1 {
		rv := scanIdentity([]byte(review[:cut]))
		complete := cut >= strings.Index(review, `,"kind":{"kind"`)
		if complete && (rv.uid != "705ab4f5-6393-11e8-b7cc-42010a800002" || rv.apiVersion != "admission.k8s.io/v1beta1") ||
			!complete && rv.uid != "" {
			t.Errorf("cut at %d: %+v", cut, rv)
		}
	}
	// Only the head is read: a uid past it is not looked for.
	late := `{"request":{"object":{"x":"` + strings.Repeat("x", headBytes) + `"},"uid":"u"}}`
	if rv := scanIdentity([]byte(late)); rv.uid != "" {
		t.Errorf("uid found past the head: %+v", rv)
	}
	for _, junk := range []string{"", "[", `{"request":"x"}`, `{"request":{"uid":5}}`, "\xff", `{"request":{"uid":"\u`} {
		if rv := scanIdentity([]byte(junk)); rv.uid != "" {
			t.Errorf("%q: %+v", junk, rv)
		}
	}
}
