package ivr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// The REST side of ARI. The data types and event decoding are ari/v5's; the transport is
// ours because the controller needs what the native client's transport does not give:
// a context and a deadline on every request (a hung Asterisk must not freeze a call), a
// connection pool sized for hundreds of concurrent calls (the native client's zero
// http.Client keeps two idle connections per host), and Asterisk's error message in the
// error (the native client drops the body of a 4xx).

// requestTimeout bounds every REST request. Asterisk answers in milliseconds (the
// recorded p99 is 18 ms on two cores); a request that takes seconds means it is stuck.
const requestTimeout = 5 * time.Second

// ariError is a non-2xx answer from Asterisk.
type ariError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *ariError) Error() string {
	return fmt.Sprintf("ari %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}

// isStatus reports whether err is an ARI answer with one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var ae *ariError
	if !errors.As(err, &ae) {
		return false
	}
	for _, s := range statuses {
		if ae.Status == s {
			return true
		}
	}
	return false
}

// gone reports whether err says the thing no longer exists: a channel that hung up, a
// playback that finished. The caller treats it as done, not as a failure.
func gone(err error) bool { return isStatus(err, http.StatusNotFound) }

// rest is one Asterisk node's REST interface.
type rest struct {
	base       string // http://host:8088/ari
	user, pass string
	hc         *http.Client
}

func newREST(rawURL, user, pass string) (*rest, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ari url %q: not http(s)://host:port", rawURL)
	}
	if !strings.HasSuffix(u.Path, "/ari") {
		u.Path += "/ari"
	}
	tr := &http.Transport{
		Proxy:               nil, // Asterisk is on the private network; never via a proxy
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	return &rest{base: u.String(), user: user, pass: pass, hc: &http.Client{Transport: tr}}, nil
}

func (r *rest) close() { r.hc.CloseIdleConnections() }

// do sends one request. body, when not nil, is sent as JSON; out, when not nil, receives
// the JSON answer.
func (r *rest) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	target := r.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ari %s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("ari %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(r.user, r.pass)
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ari %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("ari %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		// Asterisk answers {"message": …}, and {"error": …} for a failed originate.
		var m struct{ Message, Error string }
		_ = json.Unmarshal(data, &m)
		msg := m.Message
		if msg == "" {
			msg = m.Error
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &ariError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("ari %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

func (r *rest) answer(ctx context.Context, ch string) error {
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/answer", nil, nil, nil)
}

// hangup hangs up a channel; a channel that is already gone is not an error.
func (r *rest) hangup(ctx context.Context, ch, reason string) error {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	err := r.do(ctx, http.MethodDelete, "/channels/"+esc(ch), q, nil, nil)
	if gone(err) {
		return nil
	}
	return err
}

func (r *rest) play(ctx context.Context, ch, playbackID, lang string, media []string) error {
	q := url.Values{}
	if lang != "" {
		q.Set("lang", lang)
	}
	// A JSON list plays the items one after the other as one playback (recorded).
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/play/"+esc(playbackID), q,
		map[string]any{"media": media}, nil)
}

func (r *rest) stopPlayback(ctx context.Context, id string) error {
	err := r.do(ctx, http.MethodDelete, "/playbacks/"+esc(id), nil, nil, nil)
	if gone(err) {
		return nil
	}
	return err
}

type recordOptions struct {
	Format      string
	MaxDuration time.Duration
	Beep        bool
	TerminateOn string
}

func (o recordOptions) query(name string) url.Values {
	q := url.Values{
		"name":     {name},
		"format":   {o.Format},
		"ifExists": {"overwrite"},
	}
	if o.MaxDuration > 0 {
		q.Set("maxDurationSeconds", strconv.Itoa(int(o.MaxDuration/time.Second)))
	}
	if o.Beep {
		q.Set("beep", "true")
	}
	if o.TerminateOn != "" {
		q.Set("terminateOn", o.TerminateOn)
	}
	return q
}

func (r *rest) record(ctx context.Context, ch, name string, o recordOptions) error {
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/record", o.query(name), nil, nil)
}

func (r *rest) recordBridge(ctx context.Context, bridge, name string, o recordOptions) error {
	return r.do(ctx, http.MethodPost, "/bridges/"+esc(bridge)+"/record", o.query(name), nil, nil)
}

func (r *rest) stopRecording(ctx context.Context, name string) error {
	err := r.do(ctx, http.MethodPost, "/recordings/live/"+esc(name)+"/stop", nil, nil, nil)
	if gone(err) {
		return nil
	}
	return err
}

func (r *rest) moh(ctx context.Context, ch, class string) error {
	var q url.Values
	if class != "" {
		q = url.Values{"mohClass": {class}}
	}
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/moh", q, nil, nil)
}

func (r *rest) stopMOH(ctx context.Context, ch string) error {
	err := r.do(ctx, http.MethodDelete, "/channels/"+esc(ch)+"/moh", nil, nil, nil)
	if gone(err) {
		return nil
	}
	return err
}

func (r *rest) originate(ctx context.Context, req ari.OriginateRequest) (ari.ChannelData, error) {
	var ch ari.ChannelData
	err := r.do(ctx, http.MethodPost, "/channels", nil, req, &ch)
	return ch, err
}

func (r *rest) createBridge(ctx context.Context, id, name string) error {
	q := url.Values{"type": {"mixing"}, "bridgeId": {id}, "name": {name}}
	return r.do(ctx, http.MethodPost, "/bridges", q, nil, nil)
}

func (r *rest) addToBridge(ctx context.Context, bridge, ch string) error {
	return r.do(ctx, http.MethodPost, "/bridges/"+esc(bridge)+"/addChannel", url.Values{"channel": {ch}}, nil, nil)
}

func (r *rest) removeFromBridge(ctx context.Context, bridge, ch string) error {
	return r.do(ctx, http.MethodPost, "/bridges/"+esc(bridge)+"/removeChannel", url.Values{"channel": {ch}}, nil, nil)
}

// snoop starts a snoop channel on ch into our app: spy says which audio of ch it hears
// (in, out, both), whisper which way what is said on the snoop channel goes (none, out:
// to ch's own ear).
func (r *rest) snoop(ctx context.Context, ch, snoopID, app, appArgs, spy, whisper string) error {
	q := url.Values{"snoopId": {snoopID}, "app": {app}, "appArgs": {appArgs}, "spy": {spy}, "whisper": {whisper}}
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/snoop", q, nil, nil)
}

func (r *rest) deleteBridge(ctx context.Context, bridge string) error {
	err := r.do(ctx, http.MethodDelete, "/bridges/"+esc(bridge), nil, nil, nil)
	if gone(err) {
		return nil
	}
	return err
}

// channelInfo is a channel as GET /channels lists it. ari/v5's ChannelData lacks the
// dialplan's app_name and app_data, which say whether the channel sits in our app.
type channelInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Caller struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	} `json:"caller"`
	Dialplan struct {
		Context string `json:"context"`
		Exten   string `json:"exten"`
		AppName string `json:"app_name"`
		AppData string `json:"app_data"`
	} `json:"dialplan"`
}

func (ch channelInfo) data() ari.ChannelData {
	return ari.ChannelData{
		ID: ch.ID, Name: ch.Name, State: ch.State,
		Caller:   &ari.CallerID{Name: ch.Caller.Name, Number: ch.Caller.Number},
		Dialplan: &ari.DialplanCEP{Context: ch.Dialplan.Context, Exten: ch.Dialplan.Exten},
	}
}

func (r *rest) channels(ctx context.Context) ([]channelInfo, error) {
	var out []channelInfo
	err := r.do(ctx, http.MethodGet, "/channels", nil, nil, &out)
	return out, err
}

func (r *rest) bridges(ctx context.Context) ([]ari.BridgeData, error) {
	var out []ari.BridgeData
	err := r.do(ctx, http.MethodGet, "/bridges", nil, nil, &out)
	return out, err
}

// continueIn sends a channel out of the Stasis app into the dialplan at context,s,1.
func (r *rest) continueIn(ctx context.Context, ch, dialplanContext string) error {
	q := url.Values{"context": {dialplanContext}, "extension": {"s"}, "priority": {"1"}}
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/continue", q, nil, nil)
}

func (r *rest) setVar(ctx context.Context, ch, name, value string) error {
	return r.do(ctx, http.MethodPost, "/channels/"+esc(ch)+"/variable", url.Values{"variable": {name}, "value": {value}}, nil, nil)
}

// info is GET /asterisk/info: the node's entity id.
func (r *rest) info(ctx context.Context) (ari.AsteriskInfo, error) {
	var out ari.AsteriskInfo
	err := r.do(ctx, http.MethodGet, "/asterisk/info", nil, nil, &out)
	return out, err
}

// recordingFile streams a stored recording (the voice message or conversation audio).
func (r *rest) recordingFile(ctx context.Context, name string) (io.ReadCloser, string, error) {
	path := "/recordings/stored/" + esc(name) + "/file"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.SetBasicAuth(r.user, r.pass)
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("ari GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var m struct{ Message string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&m)
		return nil, "", &ariError{Method: http.MethodGet, Path: path, Status: resp.StatusCode, Message: m.Message}
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// playbackDone reports whether a playback is over (Asterisk forgets it then: 404).
func (r *rest) playbackDone(ctx context.Context, id string) (bool, error) {
	err := r.do(ctx, http.MethodGet, "/playbacks/"+esc(id), nil, nil, nil)
	if gone(err) {
		return true, nil
	}
	return false, err
}

// recordingDone reports whether a live recording is over (no longer live: 404).
func (r *rest) recordingDone(ctx context.Context, name string) (bool, error) {
	err := r.do(ctx, http.MethodGet, "/recordings/live/"+esc(name), nil, nil, nil)
	if gone(err) {
		return true, nil
	}
	return false, err
}
