package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr/aritest"
)

// The monitoring files are tested against what rexian exports: deploy/prometheus's rules
// by promtool's unit tests and by a real Prometheus scraping a running rexian, and
// deploy/grafana's dashboard by parsing every query.

const (
	rulesFile     = "../../deploy/prometheus/rexian.rules.yml"
	ruleTestsFile = "../../deploy/prometheus/rexian.rules.test.yml"
	dashboardFile = "../../deploy/grafana/rexian.json"
)

// requireTool finds a program of Debian's prometheus package, skipping (or failing under
// scripts/test) when it is not installed.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		dbtest.Unavailable(t, name, "apt-get install prometheus", err)
	}
	return path
}

// startMonitoredApp runs rexian with every part that has metrics of its own: the
// telephone controller on an emulated Asterisk and the mailbox reader (on a server that
// is not there).
func startMonitoredApp(t *testing.T) *running {
	t.Helper()
	cfg := testConfig(t, testEnv(t, ""))
	emulatedAsterisk(t, &cfg)
	cfg.Mailbox.IMAPURL = "imap://mayor:pw@" + freeAddr(t) + "/INBOX"
	return startApp(t, cfg)
}

// emulatedAsterisk starts the ARI emulator (an Asterisk second lasts 10 ms) and points
// cfg's telephone at it.
func emulatedAsterisk(t *testing.T, cfg *config.Config) *aritest.Server {
	t.Helper()
	asterisk, err := aritest.New(aritest.Options{Second: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(asterisk.Close)
	cfg.ARI = config.ARI{URL: []string{asterisk.URL()}, User: "hotline", Password: "hotline", App: "hotline"}
	return asterisk
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedNames are the metric names the app's registry can produce, whether or not a
// series exists yet (a counter vector shows nothing until it counts), with the suffixes
// of histograms and summaries.
func exportedNames(t *testing.T, a *App) map[string]bool {
	t.Helper()
	descs := make(chan *prometheus.Desc)
	go func() {
		a.metrics.registry.Describe(descs)
		close(descs)
	}()
	names := map[string]bool{}
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	return names
}

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr string
		}
	}
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	return rf
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// metricNames parses a PromQL expression and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == "__name__" {
						name = m.Value
					}
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// TestAlertRulesUnitTests runs promtool's unit tests of the rules, and checks that they
// cover every alert both ways: a case where it fires and one where it stays quiet.
func TestAlertRulesUnitTests(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", ruleTestsFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var tests struct {
		Tests []struct {
			Name          string
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, ruleTestsFile, &tests)
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}
	alerts := 0
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
				t.Errorf("alert %s: %d cases where it fires, %d where it stays quiet; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if alerts < 15 {
		t.Errorf("only %d alerts read from %s", alerts, rulesFile)
	}
}

// TestRulesAndDashboardUseExportedMetrics parses every rule and every dashboard query
// and checks that each metric it names is one rexian exports (or a recording rule, or
// Prometheus's own up).
func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	r := startMonitoredApp(t)
	known := exportedNames(t, r.app)
	for _, want := range []string{"rexian_ari_connected", "rexian_ivr_queue_waiting", "rexian_mailbox_last_poll_timestamp_seconds",
		"go_sql_in_use_connections", "rexian_sms_submissions_total", "rexian_ready", "rexian_data_disk_free_bytes"} {
		if !known[want] {
			t.Fatalf("the registry does not describe %s: the test app lacks a part", want)
		}
	}
	known["up"] = true
	rules := readRules(t)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	check := func(where, expr string) {
		names, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", where, expr, err)
			return
		}
		for _, n := range names {
			if !known[n] {
				t.Errorf("%s: %q names %s, which rexian does not export", where, expr, n)
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			check("rule "+r.Record+r.Alert, r.Expr)
		}
	}

	var dash struct {
		Panels []dashPanel
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	queries := 0
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				queries++
				check(fmt.Sprintf("panel %q", p.Title), tg.Expr)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
		}
	}
	walk(dash.Panels)
	if queries < 20 {
		t.Errorf("only %d queries read from %s", queries, dashboardFile)
	}
}

type dashPanel struct {
	Title   string
	Type    string
	Panels  []dashPanel
	Targets []struct{ Expr string }
}

// promAPI queries a Prometheus's HTTP API and decodes its data.
func promAPI(ctx context.Context, base, path string, q url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

type promSample struct {
	Metric map[string]string
	Value  [2]any
}

// TestPrometheusScrapesRexian starts Debian's Prometheus with deploy/prometheus's rules,
// scraping a running rexian, and reads through its HTTP API that the target is up, that
// rexian's series arrived, and that every rule evaluates without error.
func TestPrometheusScrapesRexian(t *testing.T) {
	bin := requireTool(t, "prometheus")
	r := startMonitoredApp(t)

	dir := t.TempDir()
	rulesPath, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: rexian
    static_configs:
      - targets: [%q]
`, rulesPath, strings.TrimPrefix(r.base, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus log:\n%s", log)
		}
	})
	base := "http://" + addr
	query := func(q string) []promSample {
		var res struct{ Result []promSample }
		if err := promAPI(ctx, base, "/api/v1/query", url.Values{"query": {q}}, &res); err != nil {
			return nil
		}
		return res.Result
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	until("Prometheus finds rexian up", func() bool {
		s := query(`up{job="rexian"}`)
		return len(s) == 1 && s[0].Value[1] == "1"
	})
	for _, q := range []string{`rexian_ready == 1`, `rexian_ari_connected == 1`, `rexian_data_disk_free_bytes > 0`,
		`go_sql_max_open_connections{db_name="rexian"} > 0`, `rexian_worker_interval_seconds{worker="tickets_overdue"}`,
		`rexian_tickets_overdue`, `rexian_sms_messages{status="queued"}`, `rexian_mailbox_poll_interval_seconds`} {
		if s := query(q); len(s) == 0 {
			t.Errorf("Prometheus has no %s", q)
		}
	}
	if s := query(`count({job="rexian", __name__=~"rexian_.+"})`); len(s) == 1 {
		t.Logf("rexian series in Prometheus: %v", s[0].Value[1])
	}

	// Every rule has been evaluated against the real series without an error.
	type rule struct{ Name, Health, LastError string }
	var rules struct {
		Groups []struct {
			Name  string
			Rules []rule
		}
	}
	until("every rule has been evaluated", func() bool {
		if err := promAPI(ctx, base, "/api/v1/rules", nil, &rules); err != nil || len(rules.Groups) != 2 {
			return false
		}
		for _, g := range rules.Groups {
			if slices.ContainsFunc(g.Rules, func(r rule) bool { return r.Health == "unknown" }) {
				return false
			}
		}
		return true
	})
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s in %s: %s %s", r.Name, g.Name, r.Health, r.LastError)
			}
		}
	}
	if want := len(readRules(t).Groups[0].Rules) + len(readRules(t).Groups[1].Rules); n != want {
		t.Errorf("Prometheus loaded %d rules, want %d", n, want)
	}
}
