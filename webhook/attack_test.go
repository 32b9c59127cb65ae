package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// The attack of issue 21: connections that need no credentials, each announcing a body of the
// largest size the webhook reads, sending all of it but the last byte, then stalling.
const (
	stalledConns    = 40
	stalledBody     = 7 << 20
	maxRSSUnderLoad = 128 << 20
	// cutWithin is how long after its request started a stalled connection may stay open: the
	// webhook's read deadline for a whole request plus slack for a loaded machine.
	cutWithin = 5*time.Second + 3*time.Second
)

// TestStalledBodiesOnRealProcess runs the attack against the real webhook process on loopback:
// its memory must stay under maxRSSUnderLoad, every stalled request must be cut within the read
// deadline (or refused sooner, naming its uid), and normal admissions must keep succeeding
// meanwhile. Before the fix the replica reached
// 310-317 MB and a connection stalled 150 s was still served.
func TestStalledBodiesOnRealProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the webhook process and holds 40 connections for seconds")
	}
	p := startWebhookProcess(t)
	_, base := p.memory(t)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	normal := startNormalAdmissions(ctx, t, p)

	var wg sync.WaitGroup
	results := make([]stallResult, stalledConns)
	for i := range stalledConns {
		wg.Go(func() { results[i] = stallOneBody(p, i) })
	}
	var peakSampled int
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for ctx.Err() == nil {
			rss, _ := p.memory(t)
			peakSampled = max(peakSampled, rss)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	stop()
	<-sampling
	admitted, failures := normal()
	_, peak := p.memory(t)

	refused, cut := 0, 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("connection %d: %v", i, r.err)
		case !r.closed:
			t.Errorf("connection %d: still open %s after its request started: the stalled body was never cut", i, r.after.Round(time.Millisecond))
		case r.after > cutWithin:
			t.Errorf("connection %d: cut after %s, want within %s", i, r.after.Round(time.Millisecond), cutWithin)
		case r.busy:
			refused++
			if !strings.Contains(r.answer, fmt.Sprintf(`"uid":"attack-%d"`, i)) {
				t.Errorf("connection %d: the refusal does not echo the request's uid: %.300s", i, r.answer)
			}
		default:
			cut++
		}
	}
	t.Logf("peak RSS %.1f MiB (VmHWM; %.1f MiB sampled under attack, %.1f MiB when ready); %d stalled requests refused as busy, %d cut by the read deadline; %d normal admissions during the attack",
		mib(peak), mib(peakSampled), mib(base), refused, cut, admitted)
	if peak > maxRSSUnderLoad {
		t.Errorf("peak RSS %.1f MiB, over %.0f MiB: the bodies in flight are not bounded", mib(peak), mib(maxRSSUnderLoad))
	}
	if admitted < 5 || len(failures) > 0 {
		t.Errorf("%d normal admissions succeeded during the attack, %d failed: %v", admitted, len(failures), failures)
	}
	if resp, err := http.Get(p.health + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("not ready after the attack: %v", err)
	} else {
		resp.Body.Close()
	}
	t.Run("an HTTP/2 stream stalled mid-body is cut", func(t *testing.T) { stallHTTP2Stream(t, p) })
	t.Run("a stalled handshake or header is cut", func(t *testing.T) { stallHeaders(t, p) })
}

// stallHeaders opens a connection that never starts its TLS handshake and one that sends half
// its headers: both must be closed within the header deadline (3s; controller-runtime's
// server allowed 32s).
func stallHeaders(t *testing.T, p *webhookProcess) {
	const within = 3*time.Second + 2*time.Second
	raw, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	half, err := tls.Dial("tcp", p.addr, p.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if _, err := fmt.Fprintf(half, "POST /mutate HTTP/1.1\r\nHost: %s\r\nContent-Type: appl", p.addr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for name, conn := range map[string]net.Conn{"no handshake": raw, "half the headers": half} {
		wg.Go(func() {
			_ = conn.SetReadDeadline(start.Add(within + time.Second))
			_, err := io.Copy(io.Discard, conn) // until the webhook closes it
			if took := time.Since(start); err != nil || took > within {
				t.Errorf("%s: closed after %s (%v), want within %s", name, took.Round(time.Millisecond), err, within)
			}
		})
	}
	wg.Wait()
}

// stallHTTP2Stream sends over HTTP/2 a review announcing
// stalledBody bytes, 1 MiB of it, then nothing: the webhook must answer within the deadline.
func stallHTTP2Stream(t *testing.T, p *webhookProcess) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.tlsConfig(), ForceAttemptHTTP2: true}}
	body, w := io.Pipe()
	defer w.Close()
	go func() {
		_, _ = w.Write([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"stalled-h2","object":{"metadata":{"name":"`))
		_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
	}()
	req, err := http.NewRequest(http.MethodPost, "https://"+p.addr+"/mutate", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = stalledBody
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), cutWithin)
	defer cancel()
	start := time.Now()
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("no answer %s after the stream started: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	t.Logf("answered after %s over %s: %.200s", time.Since(start).Round(time.Millisecond), resp.Proto, answer)
	if resp.ProtoMajor != 2 || !bytes.Contains(answer, []byte(`"uid":"stalled-h2"`)) || !bytes.Contains(answer, []byte("did not arrive within")) {
		t.Errorf("want the deadline's refusal of stalled-h2 over HTTP/2, got %s %s", resp.Proto, answer)
	}
}

type stallResult struct {
	closed bool          // the webhook answered or closed the connection
	after  time.Duration // since the request started
	busy   bool          // answered with the busy refusal
	answer string
	err    error
}

// stallOneBody sends one review announcing stalledBody bytes over HTTP/1.1, all but the last
// byte, and waits for the webhook to answer or close, at most a few seconds past cutWithin.
func stallOneBody(p *webhookProcess, i int) stallResult {
	conn, err := tls.Dial("tcp", p.addr, p.tlsConfig())
	if err != nil {
		return stallResult{err: err}
	}
	defer conn.Close()
	start := time.Now()
	answered := make(chan stallResult, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(conn, 64<<10)) // until the webhook closes
		answered <- stallResult{closed: true, after: time.Since(start), answer: string(b),
			busy: bytes.Contains(b, []byte("busy"))}
	}()
	head := fmt.Sprintf("POST /mutate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", p.addr, stalledBody)
	prefix := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"attack-%d","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"metadata":{"name":"`, i)
	body := append([]byte(prefix), bytes.Repeat([]byte("x"), stalledBody-1-len(prefix))...)
	if _, err := conn.Write([]byte(head)); err != nil {
		return stallResult{err: err}
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		if _, err := conn.Write(rest[:n]); err != nil {
			break // refused: the webhook stopped reading and closes
		}
		rest = rest[n:]
	}
	select {
	case r := <-answered:
		return r
	case <-time.After(cutWithin + 2*time.Second - time.Since(start)):
		return stallResult{after: time.Since(start)}
	}
}

// startNormalAdmissions sends a small opted-in pod every 100ms until ctx ends, over HTTP/1.1
// keep-alive connections as the API server calls a webhook behind a Service (it uses HTTP/2
// only for URLs on loopback); the returned function waits for the last one and reports how
// many were injected and what failed.
func startNormalAdmissions(ctx context.Context, t *testing.T, p *webhookProcess) func() (int, []string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, // the API server's timeoutSeconds
		Transport: &http.Transport{TLSClientConfig: p.tlsConfig()}}
	var admitted int
	var failures []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			if err := admitSmallPod(client, p.addr, fmt.Sprintf("normal-%d", i)); err != nil {
				failures = append(failures, err.Error())
			} else {
				admitted++
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (int, []string) { <-done; return admitted, failures }
}

// admitSmallPod sends one review of an opted-in pod and checks that it comes back injected.
func admitSmallPod(client *http.Client, addr, uid string) error {
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",
		"kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"namespace":"ns","operation":"CREATE",
		"object":{"metadata":{"name":"p","annotations":{"vault-injector.io/inject":"true","vault-injector.io/role":"r",
		"vault-injector.io/secret-a":"kv/a"}},"spec":{"containers":[{"name":"app","image":"app:1"}]}}}}`
	start := time.Now()
	resp, err := client.Post("https://"+addr+"/mutate", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
		return fmt.Errorf("%s: status %d, %w", uid, resp.StatusCode, err)
	}
	if r := review.Response; r == nil || !r.Allowed || len(r.Patch) == 0 || string(r.UID) != uid {
		return fmt.Errorf("%s: not injected after %s: %+v", uid, time.Since(start).Round(time.Millisecond), r)
	}
	return nil
}
