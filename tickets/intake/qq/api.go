package qq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Target is whom a message goes to: a user in private, or a group (where the user is
// @-mentioned), through the bot account SelfID.
type Target struct {
	SelfID  ID
	UserID  ID
	GroupID ID // 0 for a private message
}

// Sender sends a message to a target; *API is the real one.
type Sender interface {
	Send(ctx context.Context, to Target, msg Message) error
}

// apiResponse is OneBot's answer to an API call.
type apiResponse struct {
	Status  string          `json:"status"` // ok, async, failed
	RetCode int             `json:"retcode"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"` // some implementations explain failures here
	Wording string          `json:"wording"`
	Echo    json.RawMessage `json:"echo"`
}

func (r *apiResponse) err(action string) error {
	if r.Status == "ok" || r.Status == "async" {
		return nil
	}
	why := strings.TrimSpace(r.Wording + " " + r.Message)
	return fmt.Errorf("onebot %s: status %q retcode %d %s", action, r.Status, r.RetCode, why)
}

// API calls the OneBot API: over a reverse WebSocket when the bot is connected that way,
// else over HTTP at BaseURL.
type API struct {
	BaseURL     string // e.g. http://127.0.0.1:5700; empty for WebSocket only
	AccessToken string
	Client      *http.Client
	hub         *hub
}

// Send sends msg with send_private_msg or send_group_msg.
func (a *API) Send(ctx context.Context, to Target, msg Message) error {
	action, params := "send_private_msg", map[string]any{"user_id": int64(to.UserID), "message": msg}
	if to.GroupID != 0 {
		action, params = "send_group_msg", map[string]any{"group_id": int64(to.GroupID), "message": msg}
	}
	return a.Call(ctx, to.SelfID, action, params)
}

// Call runs one API action for the bot account self.
func (a *API) Call(ctx context.Context, self ID, action string, params any) error {
	if a.hub != nil {
		if c := a.hub.get(self); c != nil {
			resp, err := c.call(ctx, action, params)
			if err == nil {
				return resp.err(action)
			}
			if a.BaseURL == "" {
				return err
			}
			// The socket went away mid-call: HTTP may still reach the bot.
		}
	}
	if a.BaseURL == "" {
		return fmt.Errorf("onebot %s: bot %s is not connected and no api_url is configured", action, self)
	}
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("onebot %s: %w", action, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.BaseURL, "/")+"/"+action, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("onebot %s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+a.AccessToken)
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("onebot %s: %w", action, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("onebot %s: read answer: %w", action, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("onebot %s: HTTP %d: %s", action, res.StatusCode, truncate(string(b), 200))
	}
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("onebot %s: answer is not JSON: %w", action, err)
	}
	return r.err(action)
}

var errClosed = errors.New("onebot connection closed")

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
