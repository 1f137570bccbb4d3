// Package openbao reads a run's secrets from OpenBao or HashiCorp Vault:
// one KV version 2 secret whose keys are bp's secret names, an
// engine.SecretSource for nodes that keep no vault file. Values are cached
// for a short time across runs, so that a busy node reads the secret once
// per TTL, not once per run.
//
//	src, err := openbao.New(openbao.Config{URL: "openbao://bao.example:8200/secret/bp", Token: token})
//	r := runner.New(runner.Options{Secrets: src, ...})
package openbao

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	bao "github.com/openbao/openbao/api/v2"

	"github.com/bprun/bp/engine"
)

// DefaultTTL is how long values read are used before they are read again.
const DefaultTTL = 30 * time.Second

// Config says where the secrets are.
type Config struct {
	// URL is openbao://HOST[:PORT]/MOUNT/PATH (HTTPS), or
	// openbao+http://... for a server on loopback without TLS; vault:// and
	// vault+http:// are the same. MOUNT is the KV v2 engine's mount, PATH
	// the secret under it, whose keys are the secret names. It holds no
	// credentials.
	URL string
	// Token authenticates; it is never shown in an error.
	Token string
	// TTL is how long values are cached; zero means DefaultTTL, a negative
	// TTL reads for every run.
	TTL time.Duration
	// Timeout bounds one read; zero means 10s.
	Timeout time.Duration
}

// Source is the secret's keys and values as bp's vault.
type Source struct {
	kv      *bao.KVv2
	path    string
	where   string // scheme://host/mount/path, for messages
	ttl     time.Duration
	timeout time.Duration

	mu      sync.Mutex
	values  map[string]string
	readAt  time.Time
	reading chan struct{} // closed when the read in progress ends
	readErr error
}

// New checks the URL and makes the client; nothing is read until a run
// asks.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("secrets URL: %w", err)
	}
	var scheme string
	switch u.Scheme {
	case "openbao", "vault":
		scheme = "https"
	case "openbao+http", "vault+http":
		scheme = "http"
	default:
		return nil, fmt.Errorf("secrets URL: scheme %q: want openbao:// (or openbao+http:// on loopback)", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("secrets URL: holds credentials; give the token in BAO_TOKEN instead")
	}
	if u.Host == "" {
		return nil, errors.New("secrets URL: no host")
	}
	mount, path, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if !ok || mount == "" || path == "" {
		return nil, fmt.Errorf("secrets URL %s: want /MOUNT/PATH after the host", u.Redacted())
	}
	if cfg.Token == "" {
		return nil, errors.New("secrets: no token (BAO_TOKEN or VAULT_TOKEN)")
	}
	conf := bao.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("secrets: %w", conf.Error)
	}
	conf.Address = scheme + "://" + u.Host
	conf.MaxRetries = 2
	client, err := bao.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	client.SetToken(cfg.Token)
	s := &Source{kv: client.KVv2(mount), path: path, where: scheme + "://" + u.Host + "/" + mount + "/" + path, ttl: cfg.TTL, timeout: cfg.Timeout}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	return s, nil
}

// values returns the cached values, reading them again once they are
// older than the TTL; concurrent runs share one read.
func (s *Source) read(ctx context.Context) (map[string]string, error) {
	for {
		s.mu.Lock()
		if s.values != nil && s.ttl > 0 && time.Since(s.readAt) < s.ttl {
			v := s.values
			s.mu.Unlock()
			return v, nil
		}
		if wait := s.reading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			s.mu.Lock()
			err := s.readErr
			s.mu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		}
		done := make(chan struct{})
		s.reading = done
		s.mu.Unlock()

		values, err := s.fetch(ctx)
		s.mu.Lock()
		s.reading, s.readErr = nil, err
		if err == nil {
			s.values, s.readAt = values, time.Now()
		}
		s.mu.Unlock()
		close(done)
		if err != nil {
			return nil, err
		}
		if s.ttl < 0 {
			return values, nil
		}
	}
}

func (s *Source) fetch(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sec, err := s.kv.Get(ctx, s.path)
	if err != nil {
		var re *bao.ResponseError
		if errors.As(err, &re) {
			// The response's errors, not the request: never the token.
			return nil, fmt.Errorf("reading secrets at %s: status %d: %s", s.where, re.StatusCode, strings.Join(re.Errors, "; "))
		}
		if errors.Is(err, bao.ErrSecretNotFound) {
			return nil, fmt.Errorf("reading secrets at %s: no such secret", s.where)
		}
		return nil, fmt.Errorf("reading secrets at %s: %w", s.where, err)
	}
	out := make(map[string]string, len(sec.Data))
	for k, v := range sec.Data {
		text, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("secrets at %s: key %s is not text", s.where, k)
		}
		out[k] = text
	}
	return out, nil
}

// Secret returns one value.
func (s *Source) Secret(ctx context.Context, name string) (string, error) {
	values, err := s.read(ctx)
	if err != nil {
		return "", err
	}
	v, ok := values[name]
	if !ok {
		return "", fmt.Errorf("secret %s: %w (at %s)", name, engine.ErrSecretNotFound, s.where)
	}
	return v, nil
}

// SecretNames lists the keys.
func (s *Source) SecretNames(ctx context.Context) ([]string, error) {
	values, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
