package softphone

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// ErrUnavailable: Asterisk or the live store could not be reached; the browser phone
// cannot be issued now.
var ErrUnavailable = errors.New("softphone: unavailable")

// Credentials are what the browser phone registers with.
type Credentials struct {
	// Endpoint is the PJSIP endpoint, aor and auth user name: webrtc-<16 hex>.
	Endpoint string `json:"endpoint"`
	Password string `json:"password"`
	// WS is the WebSocket URL of Asterisk's SIP transport (ws://…/ws or wss://…/ws).
	WS string `json:"ws"`
	// URI is the phone's SIP address (sip:<endpoint>@<host of WS>).
	URI string `json:"uri"`
	// Phone is the dial string the queue rings: PJSIP/<endpoint>.
	Phone string `json:"phone"`
	// Name is what the phone shows as its own display name.
	Name string `json:"name"`
}

// Options configure an Issuer.
type Options struct {
	// Nodes are the ARI base URLs (http://127.0.0.1:8088), each Asterisk rexian controls.
	Nodes          []string
	User, Password string
	// WS is the WebSocket URL the browsers connect to.
	WS string
	// Live keeps what was issued.
	Live *live.Store
	// Alive reports whether a console session (by its stored id) still lasts.
	Alive func(ctx context.Context, sessionID string) (bool, error)
	// Revoked, when set, is told of each revoked endpoint and its user, after the
	// objects are gone: the queue takes the operator out if that was their phone.
	Revoked func(ctx context.Context, user, phone string)
	// Client is the HTTP client for ARI (default: 10 s timeout).
	Client *http.Client
	Log    *slog.Logger
}

// Issuer issues and revokes browser phones.
type Issuer struct {
	o   Options
	key string
}

// New checks o and returns an Issuer.
func New(o Options) (*Issuer, error) {
	if len(o.Nodes) == 0 || o.WS == "" || o.Live == nil || o.Alive == nil {
		return nil, errors.New("softphone: ARI nodes, the WebSocket URL, the live store and the session check are required")
	}
	u, err := url.Parse(o.WS)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("softphone: %q is not a ws:// or wss:// URL", o.WS)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Issuer{o: o, key: o.Live.Key("softphone", "issued")}, nil
}

// WS is the WebSocket URL browsers connect to.
func (i *Issuer) WS() string { return i.o.WS }

// Origin is the WebSocket's scheme, host and port, for the pages' connect-src.
func (i *Issuer) Origin() string {
	u, _ := url.Parse(i.o.WS)
	return u.Scheme + "://" + u.Host
}

// EndpointFor is the endpoint name of a session: a hash of its stored id, which is
// itself a hash of the cookie, so the name gives nothing away.
func EndpointFor(sessionID string) string {
	sum := sha256.Sum256([]byte("rexian softphone " + sessionID))
	return "webrtc-" + hex.EncodeToString(sum[:8])
}

// issued is one live-store entry.
type issued struct {
	Session  string `json:"session"`
	User     string `json:"user"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Issue returns the browser phone of a session, creating it (or, after an Asterisk
// restart, creating it again) on every node. Asking again returns the same endpoint and
// password. Errors wrap ErrUnavailable when a node or the live store cannot be reached.
func (i *Issuer) Issue(ctx context.Context, sessionID, user, name string) (Credentials, error) {
	ep := EndpointFor(sessionID)
	e, found, err := i.entry(ctx, ep)
	if err != nil {
		return Credentials{}, err
	}
	if !found || e.Session != sessionID {
		pw := make([]byte, 18)
		if _, err := rand.Read(pw); err != nil {
			return Credentials{}, fmt.Errorf("softphone: password: %w", err)
		}
		e = issued{Session: sessionID, User: user, Name: name, Password: hex.EncodeToString(pw)}
		b, _ := json.Marshal(e)
		// Written before Asterisk gets the objects, so that a sweep can always find
		// (and delete) what may exist there.
		if err := i.o.Live.HSet(ctx, i.key, ep, b).Err(); err != nil {
			return Credentials{}, fmt.Errorf("softphone: keep %s: %w: %w", ep, ErrUnavailable, err)
		}
	}
	for _, node := range i.o.Nodes {
		if err := i.create(ctx, node, ep, e); err != nil {
			return Credentials{}, err
		}
	}
	u, _ := url.Parse(i.o.WS)
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return Credentials{Endpoint: ep, Password: e.Password, WS: i.o.WS, URI: "sip:" + ep + "@" + host, Phone: "PJSIP/" + ep, Name: e.Name}, nil
}

// Revoke deletes a session's browser phone from every node and forgets it. Revoking a
// session that has none is not an error.
func (i *Issuer) Revoke(ctx context.Context, sessionID string) error {
	return i.revoke(ctx, EndpointFor(sessionID))
}

func (i *Issuer) revoke(ctx context.Context, ep string) error {
	e, found, err := i.entry(ctx, ep)
	if err != nil || !found {
		return err
	}
	var errs []error
	for _, node := range i.o.Nodes {
		// The endpoint first: once it is gone nothing can register or be rung.
		for _, typ := range []string{"endpoint", "aor", "auth"} {
			if err := i.ari(ctx, node, http.MethodDelete, typ, ep, nil); err != nil && !errors.Is(err, errNotFound) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Kept in the hash: the next sweep tries again.
		return err
	}
	if err := i.o.Live.HDel(ctx, i.key, ep).Err(); err != nil {
		return fmt.Errorf("softphone: forget %s: %w: %w", ep, ErrUnavailable, err)
	}
	i.o.Log.InfoContext(ctx, "browser phone revoked", "endpoint", ep, "user", e.User)
	if i.o.Revoked != nil {
		i.o.Revoked(ctx, e.User, "PJSIP/"+ep)
	}
	return nil
}

// Sweep revokes every browser phone whose session no longer lasts and returns how many.
func (i *Issuer) Sweep(ctx context.Context) (int, error) {
	all, err := i.o.Live.HGetAll(ctx, i.key).Result()
	if err != nil {
		return 0, fmt.Errorf("softphone: list issued: %w: %w", ErrUnavailable, err)
	}
	n := 0
	var errs []error
	for ep, raw := range all {
		var e issued
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			errs = append(errs, fmt.Errorf("softphone: entry %s: %w", ep, err))
			continue
		}
		alive, err := i.o.Alive(ctx, e.Session)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if alive {
			continue
		}
		if err := i.revoke(ctx, ep); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Run sweeps every interval until ctx ends.
func (i *Issuer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := i.Sweep(ctx); err != nil && ctx.Err() == nil {
			i.o.Log.WarnContext(ctx, "browser phones: sweep", "revoked", n, "err", err)
		}
	}
}

func (i *Issuer) entry(ctx context.Context, ep string) (issued, bool, error) {
	raw, err := i.o.Live.HGet(ctx, i.key, ep).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return issued{}, false, nil
		}
		return issued{}, false, fmt.Errorf("softphone: read %s: %w: %w", ep, ErrUnavailable, err)
	}
	var e issued
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return issued{}, false, fmt.Errorf("softphone: entry %s: %w", ep, err)
	}
	return e, true, nil
}

// create puts the three objects on one node. Objects created over ARI take no
// template: every option of deploy/asterisk's webrtc-* templates is sent here.
func (i *Issuer) create(ctx context.Context, node, ep string, e issued) error {
	objects := []struct {
		typ    string
		fields [][2]string
	}{
		{"auth", [][2]string{{"auth_type", "userpass"}, {"username", ep}, {"password", e.Password}}},
		{"aor", [][2]string{{"max_contacts", "1"}, {"remove_existing", "yes"}, {"qualify_frequency", "0"}}},
		{"endpoint", [][2]string{
			{"transport", "transport-ws"}, {"context", "rexian-phones"},
			{"disallow", "all"}, {"allow", "alaw,ulaw"},
			{"webrtc", "yes"}, {"dtls_auto_generate_cert", "yes"},
			{"dtmf_mode", "rfc4733"}, {"direct_media", "no"}, {"language", "zh"},
			{"device_state_busy_at", "1"},
			{"auth", ep}, {"aors", ep},
		}},
	}
	for _, o := range objects {
		var body struct {
			Fields []map[string]string `json:"fields"`
		}
		for _, f := range o.fields {
			body.Fields = append(body.Fields, map[string]string{"attribute": f[0], "value": f[1]})
		}
		b, _ := json.Marshal(body)
		if err := i.ari(ctx, node, http.MethodPut, o.typ, ep, b); err != nil {
			return err
		}
	}
	return nil
}

var errNotFound = errors.New("not found")

// ari sends one dynamic-configuration request.
func (i *Issuer) ari(ctx context.Context, node, method, typ, id string, body []byte) error {
	u := strings.TrimRight(node, "/") + "/ari/asterisk/config/dynamic/res_pjsip/" + typ + "/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("softphone: %s %s %s: %w", method, typ, id, err)
	}
	req.SetBasicAuth(i.o.User, i.o.Password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := i.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("softphone: %s %s %s on %s: %w: %w", method, typ, id, node, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound && method == http.MethodDelete:
		return errNotFound
	case resp.StatusCode == http.StatusForbidden:
		// "No sorcery wizard supports creating/updating objects of this type", or a
		// read-only ARI user: the node's configuration, not a passing fault.
		return fmt.Errorf("softphone: %s %s %s on %s: %s %s (does sorcery.conf give res_pjsip a memory wizard, and is the ARI user read_only = no?)",
			method, typ, id, node, resp.Status, bytes.TrimSpace(msg))
	}
	return fmt.Errorf("softphone: %s %s %s on %s: %w: %s %s", method, typ, id, node, ErrUnavailable, resp.Status, bytes.TrimSpace(msg))
}
