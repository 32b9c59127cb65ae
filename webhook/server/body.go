package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/vault-injector/vault-injector/internal/jsonread"
)

// Bodies in flight. Anyone who reaches the port can send a review (the API server holds no
// secret the webhook checks unless --client-ca-file is set), so what a replica holds of
// request bodies at once is bounded: 40 connections announcing 7 MiB each, sent all but the
// last byte, took a replica over its 256Mi limit before this budget.
const (
	// BodyBudgetBytes bounds the bytes of request bodies held at once, past each request's head.
	BodyBudgetBytes = 32 << 20
	// SmallBodyReserve is the part of the budget only bodies up to smallBodyBytes may take:
	// large stalled bodies cannot starve ordinary pods, whose reviews are a few KiB.
	SmallBodyReserve = 8 << 20
	smallBodyBytes   = 64 << 10
	// headBytes of every body are read before the budget is asked, so that even a refusal can
	// name the request's uid (the first field the API server writes in "request"). They cost
	// what the connection's own buffers do, and are not counted.
	headBytes = 4 << 10
)

// bodyBudget counts the bytes of request bodies held, beyond each one's head. Its zero value
// has the default limits.
type bodyBudget struct {
	total, reserve int64 // 0: BodyBudgetBytes, SmallBodyReserve
	used           atomic.Int64
}

// take counts n more bytes for a body whose buffer becomes size bytes, if the budget has room
// (bodies over smallBodyBytes leave the reserve free).
func (b *bodyBudget) take(n int64, size int) bool {
	limit, reserve := b.total, b.reserve
	if limit == 0 {
		limit, reserve = BodyBudgetBytes, SmallBodyReserve
	}
	if size > smallBodyBytes {
		limit -= reserve
	}
	for {
		u := b.used.Load()
		if u+n > limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes taken.
func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// errBusy refuses a body the budget has no room for; the refusal tells the API server (and so
// the user) to retry.
var errBusy = fmt.Errorf("vault-injector is busy reading other large admission requests (a replica holds at most %d MiB of request bodies at once): retry in a moment", BodyBudgetBytes>>20)

// errTooLarge refuses a body over maxReviewBytes.
var errTooLarge = fmt.Errorf("the admission review is over %d bytes, the most vault-injector reads", maxReviewBytes)

// readBody reads the body into buf (reused when it has room), growing the buffer as the bytes
// arrive, never from the announced length alone: a client can announce 7 MiB and send one
// byte. Growth past the head is counted in budget before it is allocated; charged is what was
// counted, for the caller to give back once done with the body. The read deadline is the
// server's (see newAdmissionServer).
func readBody(req *http.Request, buf []byte, budget *bodyBudget) (body []byte, charged int64, err error) {
	want := maxReviewBytes + 1 // one more than the limit, to see a body over it
	if n := req.ContentLength; n >= 0 && n < int64(want) {
		want = int(n) + 1 // one more, to see EOF without growing
	}
	body, usable := buf[:0], 0
	for len(body) < want {
		if len(body) == usable {
			next := min(want, max(headBytes, 2*usable))
			if cost := int64(max(0, next-headBytes)) - charged; cost > 0 {
				if !budget.take(cost, next) {
					return body, charged, errBusy
				}
				charged += cost
			}
			usable = next
			if cap(body) < usable {
				grown := make([]byte, len(body), usable)
				copy(grown, body)
				body = grown
			}
		}
		n, err := req.Body.Read(body[len(body):usable])
		body = body[:len(body)+n]
		switch {
		case errors.Is(err, io.EOF):
			return body, charged, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return body, charged, fmt.Errorf("the body did not arrive within %s", requestReadTimeout)
		case err != nil:
			return body, charged, err
		}
	}
	if len(body) > maxReviewBytes {
		return body, charged, errTooLarge
	}
	return body, charged, nil
}

// scanIdentity reads the request's uid and the review's apiVersion from the head of a body
// that may be cut anywhere or not be JSON at all, so that a refusal still names the request:
// without its uid the API server shows only "expected response.uid". It reads at most
// headBytes and stops at the uid.
func scanIdentity(body []byte) (rv review) {
	r := jsonread.New(body[:min(len(body), headBytes)])
	errFound := errors.New("found")
	_ = r.Object(func(key []byte) error {
		switch string(key) {
		case "apiVersion":
			return r.StringInto(&rv.apiVersion)
		case "request":
			return r.Object(func(key []byte) error {
				if string(key) == "uid" {
					if err := r.StringInto(&rv.uid); err != nil {
						return err
					}
					return errFound
				}
				return r.Skip()
			})
		}
		return r.Skip()
	})
	return rv
}
