package ivr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/prompt"
)

// Finding is one line of `rexian doctor`'s checklist about the telephone side.
type Finding struct {
	Name   string // "asterisk http://10.0.0.11:8088 prompts"
	OK     bool
	Skip   bool   // not configured
	Detail string // what was seen
	Fix    string // what to do, for a failure
}

// Diagnose checks through ARI what the controller needs from each Asterisk node (the
// credentials, the Stasis application registered, every prompt it plays present in the
// channel language, a recording that can be made) and that the fallback's spool is
// there and writable. It changes nothing on the nodes but a test recording it removes.
func Diagnose(ctx context.Context, ac config.ARI, ic config.IVR) []Finding {
	var out []Finding
	if !ac.Enabled() {
		return append(out, Finding{Name: "asterisk", OK: true, Skip: true,
			Detail: "no node configured (ari.url, REXIAN_ARI_URL): the telephone controller is off"})
	}
	for _, u := range ac.URL {
		out = append(out, diagnoseNode(ctx, u, ac, ic)...)
	}
	return append(out, diagnoseSpool(ic.SpoolDir))
}

func diagnoseNode(ctx context.Context, rawURL string, ac config.ARI, ic config.IVR) []Finding {
	name := "asterisk " + rawURL
	r, err := newREST(rawURL, ac.User, ac.Password)
	if err != nil {
		return []Finding{{Name: name + " ARI", Detail: err.Error(), Fix: "correct ari.url (REXIAN_ARI_URL): http://host:8088"}}
	}
	defer r.close()
	info, err := r.info(ctx)
	switch {
	case isStatus(err, http.StatusUnauthorized):
		return []Finding{{Name: name + " ARI", Detail: "user " + ac.User + " refused",
			Fix: "set ari.user and ari.password (REXIAN_ARI_USER, REXIAN_ARI_PASSWORD) to the user and password of ari.conf"}}
	case err != nil:
		return []Finding{{Name: name + " ARI", Detail: err.Error(),
			Fix: "start Asterisk; check http.conf (enabled, bindaddr, bindport) and that res_ari is loaded: asterisk -rx \"module show like res_ari\""}}
	}
	out := []Finding{{Name: name + " ARI", OK: true, Detail: "Asterisk " + info.SystemInfo.Version}}

	if err := r.do(ctx, http.MethodGet, "/applications/"+esc(ac.App), nil, nil, nil); err != nil {
		out = append(out, Finding{Name: name + " application", Detail: fmt.Sprintf("Stasis application %s not registered: %v", ac.App, err),
			Fix: "start rexian serve (systemctl start rexian); until it attaches, callers reach the dialplan's fallback"})
	} else {
		out = append(out, Finding{Name: name + " application", OK: true, Detail: ac.App + " registered"})
	}
	out = append(out, diagnosePrompts(ctx, r, name, ic))
	return append(out, diagnoseRecording(ctx, r, name))
}

// diagnosePrompts lists the node's sounds in the channel language and looks for every
// prompt the controller and the fallback dialplan play, and the Mandarin digits.
func diagnosePrompts(ctx context.Context, r *rest, name string, ic config.IVR) Finding {
	name += " prompts"
	var sounds []struct {
		ID      string `json:"id"`
		Formats []struct {
			Language string `json:"language"`
		} `json:"formats"`
	}
	if err := r.do(ctx, http.MethodGet, "/sounds", url.Values{"lang": {ic.Language}}, nil, &sounds); err != nil {
		return Finding{Name: name, Detail: err.Error(), Fix: "check that res_ari_sounds is loaded"}
	}
	have := map[string]bool{}
	for _, s := range sounds {
		for _, f := range s.Formats {
			if f.Language == ic.Language {
				have[s.ID] = true
			}
		}
	}
	var want []string
	for n := range ic.Prompts {
		want = append(want, ic.PromptDir+"/"+n)
	}
	for n := range prompt.DialplanTexts() {
		want = append(want, ic.PromptDir+"/"+n)
	}
	if strings.HasPrefix(ic.Language, "zh") {
		for n := range prompt.DigitTexts() {
			want = append(want, prompt.DigitsDir+"/"+n)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	dir := "/var/lib/asterisk/sounds/" + ic.Language + "/"
	if len(missing) > 0 {
		return Finding{Name: name, Detail: fmt.Sprintf("%d of %d sounds missing in language %s: %s", len(missing), len(want), ic.Language, list(missing, 5)),
			Fix: "render them with rexian prompts (--departments, with rexian's configuration) and install them into " + dir + ic.PromptDir +
				" and " + dir + prompt.DigitsDir + " (deploy/asterisk/README.md, Prompts)"}
	}
	return Finding{Name: name, OK: true, Detail: fmt.Sprintf("all %d sounds in language %s", len(want), ic.Language)}
}

// diagnoseRecording records an empty bridge for a moment and throws the recording away:
// Asterisk refuses every recording (voice messages, conversations) when its spool lacks
// recording/ or cannot be written.
func diagnoseRecording(ctx context.Context, r *rest, name string) Finding {
	name += " recording"
	bridge := fmt.Sprintf("rexian-doctor-%d", time.Now().UnixNano())
	if err := r.createBridge(ctx, bridge, "rexian-doctor"); err != nil {
		return Finding{Name: name, Detail: "cannot create a bridge: " + err.Error(), Fix: "check that res_ari_bridges and bridge_softmix are loaded"}
	}
	defer func() { _ = r.deleteBridge(context.WithoutCancel(ctx), bridge) }()
	rec := "rexian/doctor/" + bridge
	if err := r.recordBridge(ctx, bridge, rec, recordOptions{Format: "wav", MaxDuration: time.Second}); err != nil {
		return Finding{Name: name, Detail: "Asterisk refuses to record: " + err.Error(),
			Fix: "create Asterisk's recording folder, writable by Asterisk: install -d -m 0750 -o asterisk -g asterisk /var/spool/asterisk/recording"}
	}
	if err := discardRecording(context.WithoutCancel(ctx), r, rec, 3*time.Second); err != nil {
		return Finding{Name: name, OK: true, Detail: "recorded, but the test recording " + rec + " stays: " + err.Error()}
	}
	return Finding{Name: name, OK: true, Detail: "a test recording was made and removed"}
}

// discardRecording throws a live recording away and makes sure its file goes too.
// Asterisk disregards a cancel that arrives while the recording is still queued on its
// channel (state "queued"): the recording then runs to its maximum length and is
// stored. So cancel only once it records, and if it was stored anyway, delete the
// stored one.
func discardRecording(ctx context.Context, r *rest, rec string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var live struct {
			State string `json:"state"`
		}
		err := r.do(ctx, http.MethodGet, "/recordings/live/"+esc(rec), nil, nil, &live)
		if gone(err) {
			break // over already: stored or failed
		}
		if err != nil {
			return err
		}
		if live.State != "queued" {
			// Cancelling a recording that records removes its file.
			if err := r.do(ctx, http.MethodDelete, "/recordings/live/"+esc(rec), nil, nil, nil); err != nil && !gone(err) {
				return err
			}
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Still queued at the deadline or already over: wait for it to end, then delete
	// what it stored.
	for time.Now().Before(deadline.Add(wait)) {
		if done, err := r.recordingDone(ctx, rec); err != nil || done {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := r.do(ctx, http.MethodDelete, "/recordings/stored/"+esc(rec), nil, nil, nil); err != nil && !gone(err) {
		return err
	}
	return nil
}

// diagnoseSpool checks the folder the fallback dialplan records into while rexian is
// down: rexian must see it, with incoming/, and be able to move files in it.
func diagnoseSpool(dir string) Finding {
	const name = "voice-message spool"
	if dir == "" {
		return Finding{Name: name, OK: true, Skip: true,
			Detail: "ivr.spool_dir not set: voice messages left while rexian is down are not imported"}
	}
	fix := "create it as deploy/asterisk/README.md (Install, step 4) says, group rexian, mode 2775, with incoming/, " +
		"and add rexian's user to the group; or correct ivr.spool_dir (REXIAN_IVR_SPOOL_DIR)"
	if fi, err := os.Stat(filepath.Join(dir, "incoming")); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return Finding{Name: name, Detail: fmt.Sprintf("%s: incoming/: %v", dir, err), Fix: fix}
	}
	f, err := os.CreateTemp(dir, ".rexian-doctor-*")
	if err != nil {
		return Finding{Name: name, Detail: fmt.Sprintf("%s: rexian cannot write here: %v", dir, err), Fix: fix}
	}
	f.Close()
	os.Remove(f.Name())
	return Finding{Name: name, OK: true, Detail: dir + " writable, with incoming/"}
}

// list prints at most n items and how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
