package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/hashchain"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLog(t *testing.T, opts audit.Options) (*audit.Log, *gorm.DB, *clock) {
	t.Helper()
	db := dbtest.Open(t, audit.Migrations())
	clk := &clock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = clk.now
	}
	return audit.New(db, opts), db, clk
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustVerify(t *testing.T, ctx context.Context, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRecordFillsActorAndClientFromContext(t *testing.T) {
	ctx := ctxT(t)
	type who struct{}
	l, _, _ := newLog(t, audit.Options{ActorOf: func(ctx context.Context) string {
		if s, ok := ctx.Value(who{}).(string); ok {
			return s
		}
		return "system"
	}})
	rctx := audit.WithClient(context.WithValue(ctx, who{}, "operator:wangli"), "10.0.0.7")
	if err := l.Record(rctx, audit.Event{Action: audit.ActionPIIViewed, Target: "ticket:1", Reason: "回电"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, audit.Event{Action: audit.ActionLoginFailed, Actor: "anonymous", Detail: "user li\x1b[2J\nnext"}); err != nil {
		t.Fatal(err)
	}
	rs, more, err := l.Find(ctx, audit.Filter{}, api.Page{Page: 1, PerPage: 10})
	if err != nil || more || len(rs) != 2 {
		t.Fatalf("find: %d records, more %v, %v", len(rs), more, err)
	}
	if r := rs[1]; r.Actor != "operator:wangli" || r.IP != "10.0.0.7" || r.Reason != "回电" || r.Seq != 1 {
		t.Errorf("first record %+v; want the context's actor and address", r)
	}
	if r := rs[0]; r.Actor != "anonymous" || r.Detail != "user li[2J\nnext" || r.PrevHash != rs[1].Hash {
		t.Errorf("second record %+v: want the given actor, the escape character dropped and a link to the first", r)
	}
	if err := l.Record(ctx, audit.Event{}); err == nil {
		t.Error("an event without an action was recorded")
	}
}

// Writers racing from many goroutines must still leave one unbroken chain.
func TestConcurrentRecordsKeepOneChain(t *testing.T) {
	ctx := ctxT(t)
	l, _, _ := newLog(t, audit.Options{})
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- l.Record(ctx, audit.Event{Action: "test", Target: fmt.Sprintf("w%d:%d", w, i)})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := mustVerify(t, ctx, l)
	if !rep.OK() || rep.Records != writers*each || rep.LastSeq != writers*each {
		t.Fatalf("report %+v; want %d records in one chain", rep, writers*each)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(db *gorm.DB) error
		want   string
	}{
		{"changed detail", func(db *gorm.DB) error {
			return db.Exec("UPDATE audit_records SET detail = 'nothing to see' WHERE seq = 3").Error
		}, "audit record 3 (pii_viewed by operator:x at 2026-06-01T08:00:00Z): its content does not match"},
		{"changed actor with its hash redone elsewhere", func(db *gorm.DB) error {
			return db.Exec("UPDATE audit_records SET hash = 'x' WHERE seq = 2").Error
		}, "audit record 2 (pii_viewed by operator:x at 2026-06-01T08:00:00Z): its content does not match"},
		{"removed from the middle", func(db *gorm.DB) error {
			return db.Exec("DELETE FROM audit_records WHERE seq = 2").Error
		}, "sequence 3 where 2 was expected"},
		{"removed from the end", func(db *gorm.DB) error {
			return db.Exec("DELETE FROM audit_records WHERE seq >= 4").Error
		}, "ends at record 3 but its head records 5 (records were removed)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			l, db, _ := newLog(t, audit.Options{})
			for i := range 5 {
				if err := l.Record(ctx, audit.Event{Action: audit.ActionPIIViewed, Actor: "operator:x", Target: fmt.Sprintf("ticket:%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			if rep := mustVerify(t, ctx, l); !rep.OK() || rep.Records != 5 {
				t.Fatalf("before tampering: %+v", rep)
			}
			if err := tc.tamper(db); err != nil {
				t.Fatal(err)
			}
			rep := mustVerify(t, ctx, l)
			if rep.OK() || !strings.Contains(rep.Broken, tc.want) {
				t.Errorf("broken %q; want it to say %q", rep.Broken, tc.want)
			}
		})
	}
}

// Pruning removes what is past the retention, and what stays still verifies from the
// anchor; removing a record after the anchor is still caught.
func TestPruneKeepsTheChainVerifiable(t *testing.T) {
	ctx := ctxT(t)
	l, db, clk := newLog(t, audit.Options{Retention: 30 * 24 * time.Hour})
	for i := range 4 {
		if err := l.Record(ctx, audit.Event{Action: audit.ActionLogin, Actor: "admin:li", Target: fmt.Sprint("old", i)}); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(20 * 24 * time.Hour)
	for i := range 3 {
		if err := l.Record(ctx, audit.Event{Action: audit.ActionLogin, Actor: "admin:li", Target: fmt.Sprint("new", i)}); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(15 * 24 * time.Hour) // the first four are now 35 days old, the others 15
	n, err := l.Prune(ctx)
	if err != nil || n != 4 {
		t.Fatalf("prune: %d removed, %v; want the 4 older than 30 days", n, err)
	}
	rep := mustVerify(t, ctx, l)
	if !rep.OK() || rep.AnchorSeq != 4 || rep.Records != 4 || rep.LastSeq != 8 {
		t.Fatalf("after prune: %+v; want records 5 to 8 (three kept and the prune's own) anchored at 4", rep)
	}
	if !strings.Contains(rep.String(), "1 to 4 pruned") {
		t.Errorf("report %q does not say what was pruned", rep)
	}
	rs, _, err := l.Find(ctx, audit.Filter{Action: audit.ActionPruned}, api.Page{Page: 1, PerPage: 5})
	if err != nil || len(rs) != 1 || !strings.Contains(rs[0].Detail, "4 records older than") {
		t.Fatalf("prune record: %+v, %v", rs, err)
	}
	if n, err := l.Prune(ctx); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v; want nothing more", n, err)
	}
	if err := db.Exec("DELETE FROM audit_records WHERE seq = 5").Error; err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, ctx, l); rep.OK() || !strings.Contains(rep.Broken, "sequence 6 where 5 was expected") {
		t.Errorf("a record removed after the anchor: %+v", rep)
	}
}

func TestFindFilters(t *testing.T) {
	ctx := ctxT(t)
	l, _, clk := newLog(t, audit.Options{})
	evs := []audit.Event{
		{Action: audit.ActionLogin, Actor: "admin:li"},
		{Action: audit.ActionPIIViewed, Actor: "operator:wang", Target: "ticket:2026060100011", Reason: "回电核实"},
		{Action: audit.ActionPIIViewed, Actor: "operator:zhao", Target: "ticket:2026060100022", Detail: "100%_done"},
		{Action: audit.ActionUserUpdated, Actor: "admin:li", Target: "user:3", Detail: "role operator → supervisor"},
	}
	for _, e := range evs {
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		clk.add(24 * time.Hour)
	}
	cases := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"all", audit.Filter{}, []int64{4, 3, 2, 1}},
		{"actor", audit.Filter{Actor: "admin:li"}, []int64{4, 1}},
		{"action", audit.Filter{Action: audit.ActionPIIViewed}, []int64{3, 2}},
		{"target exact", audit.Filter{Target: "ticket:2026060100011"}, []int64{2}},
		{"target prefix", audit.Filter{Target: "ticket:*"}, []int64{3, 2}},
		{"text in reason", audit.Filter{Text: "核实"}, []int64{2}},
		{"text with like characters", audit.Filter{Text: "%_"}, []int64{3}},
		{"from and to", audit.Filter{From: time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 6, 4, 0, 0, 0, 0, time.UTC)}, []int64{3, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, _, err := l.Find(ctx, tc.f, api.Page{Page: 1, PerPage: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range rs {
				got = append(got, r.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("seqs %v, want %v", got, tc.want)
			}
		})
	}
	rs, more, err := l.Find(ctx, audit.Filter{}, api.Page{Page: 2, PerPage: 3})
	if err != nil || more || len(rs) != 1 || rs[0].Seq != 1 {
		t.Errorf("page 2 of 3: %+v more %v %v", rs, more, err)
	}
}

// Records reach a JSON-lines file and a real syslog listener on UDP as they are made.
func TestShippers(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	file, err := audit.NewFileShipper(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	sys, err := audit.NewSyslogShipper("udp", pc.LocalAddr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close() })
	l, _, _ := newLog(t, audit.Options{Shippers: []audit.Shipper{file, sys}})
	if err := l.Record(ctx, audit.Event{Action: audit.ActionPIIViewed, Actor: "operator:wang", Target: "ticket:7", Reason: "回电"}); err != nil {
		t.Fatal(err)
	}

	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog message arrived: %v", err)
	}
	msg := string(buf[:n])
	// <86> is facility authpriv (10) × 8 + severity info (6).
	if !strings.HasPrefix(msg, "<86>") || !strings.Contains(msg, "rexian-audit") {
		t.Errorf("syslog message %q: want priority authpriv.info and the tag", msg)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(msg[strings.Index(msg, "{"):]), &got); err != nil {
		t.Fatalf("syslog message %q is not JSON: %v", msg, err)
	}
	if got["action"] != "pii_viewed" || got["target"] != "ticket:7" || got["source"] != "rexian.audit" || got["reason"] != "回电" {
		t.Errorf("syslog JSON %v", got)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 1 || lines[0]["actor"] != "operator:wang" || lines[0]["seq"] != float64(1) || lines[0]["hash"] == "" {
		t.Errorf("file lines %v", lines)
	}
}

// A chain made with SHA-256 (the default) goes on with SM3 once configured: the old links
// still verify, the new ones are SM3 (and fit their columns on PostgreSQL), the report
// counts both, and a change of an SM3-linked record, or its relabelling as SHA-256, is
// caught.
func TestSM3ChainContinuesASHA256One(t *testing.T) {
	ctx := ctxT(t)
	old, db, clk := newLog(t, audit.Options{})
	for i := range 3 {
		if err := old.Record(ctx, audit.Event{Action: audit.ActionLogin, Actor: "admin:li", Target: fmt.Sprint("sha", i)}); err != nil {
			t.Fatal(err)
		}
	}
	l := audit.New(db, audit.Options{Now: clk.now, ChainHash: hashchain.SM3})
	for i := range 3 {
		if err := l.Record(ctx, audit.Event{Action: audit.ActionPIIViewed, Actor: "operator:x", Target: fmt.Sprint("sm3-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var rs []audit.Record
	if err := db.Order("seq").Find(&rs).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if want := r.Seq > 3; strings.HasPrefix(r.Hash, "sm3:") != want {
			t.Errorf("record %d link %q: SM3 %v", r.Seq, r.Hash, want)
		}
	}
	if rs[3].PrevHash != rs[2].Hash {
		t.Errorf("the first SM3 record links to %q, not the last SHA-256 one %q", rs[3].PrevHash, rs[2].Hash)
	}
	rep := mustVerify(t, ctx, l)
	if !rep.OK() || rep.Records != 6 || rep.Links != (hashchain.Tally{SHA256: 3, SM3: 3}) {
		t.Fatalf("mixed chain: %+v", rep)
	}
	if !strings.Contains(rep.String(), "SM3 3 and SHA-256 3") {
		t.Errorf("report %q does not say how the records are linked", rep)
	}
	// The default log verifies the same chain: verifying needs no configuration.
	if rep := mustVerify(t, ctx, old); !rep.OK() {
		t.Errorf("verified by a SHA-256 log: %+v", rep)
	}
	clk.add(time.Hour)
	if _, err := l.Prune(ctx); err != nil {
		t.Fatal(err)
	}

	if err := db.Exec("UPDATE audit_records SET target = 'elsewhere' WHERE seq = 5").Error; err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, ctx, l); rep.OK() || !strings.Contains(rep.Broken, "audit record 5") {
		t.Errorf("a changed SM3 record: %+v", rep)
	}
	if err := db.Exec("UPDATE audit_records SET target = 'sm3-1' WHERE seq = 5").Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE audit_records SET hash = substr(hash, 5) WHERE seq = 6").Error; err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, ctx, l); rep.OK() || !strings.Contains(rep.Broken, "audit record 6") {
		t.Errorf("an SM3 link relabelled as SHA-256: %+v", rep)
	}
}
