package vault

import (
	"context"

	"github.com/hashicorp/vault/api"
)

// WatchToken implements Client with the API's LifetimeWatcher: it renews the token and, once
// renewal cannot extend it any more (max TTL, revoked, Vault gone until the grace period),
// reports on the channel so the caller logs in again.
func (a *APIClient) WatchToken(ctx context.Context, renewed func()) <-chan error {
	a.mu.Lock()
	ttl, renewable := a.ttl, a.renewable
	a.mu.Unlock()
	if ttl <= 0 {
		// Root-like tokens never expire; a watcher would return at once and loop logins.
		return make(chan error)
	}
	s := &api.Secret{Auth: &api.SecretAuth{
		ClientToken: a.c.Token(), LeaseDuration: int(ttl.Seconds()), Renewable: renewable,
	}}
	return a.watch(ctx, s, renewed)
}

// WatchLease implements Client. Non-renewable leases (pki with generate_lease, for example)
// are only timed: the channel fires in the last 10-20% of the lease so the secret is fetched
// again before it ends.
func (a *APIClient) WatchLease(ctx context.Context, s *Secret, renewed func()) <-chan error {
	if !s.Leased() {
		return make(chan error)
	}
	return a.watch(ctx, &api.Secret{LeaseID: s.LeaseID, LeaseDuration: s.LeaseDuration, Renewable: s.Renewable}, renewed)
}

func (a *APIClient) watch(ctx context.Context, s *api.Secret, renewed func()) <-chan error {
	out := make(chan error, 1)
	w, err := a.c.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: s, RenewBehavior: api.RenewBehaviorIgnoreErrors})
	if err != nil {
		out <- err
		return out
	}
	go w.Start()
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.DoneCh():
				out <- err
				return
			case <-w.RenewCh():
				if renewed != nil {
					renewed()
				}
			}
		}
	}()
	return out
}
