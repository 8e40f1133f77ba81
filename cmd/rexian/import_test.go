package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportTicketsCommand runs `rexian import tickets` on a small CSV of the previous
// platform with a mapping file: the dry run lists the refused row and writes nothing,
// the import writes the good rows, a re-run skips them, and the audit of the timelines
// verifies.
func TestImportTicketsCommand(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "old.csv")
	csv := "\ufeff受理编号,来电号码,姓名,诉求内容,诉求类别,承办单位,状态,受理时间,派单时间,办结时间,办理结果,满意度\n" +
		"A-1,13800138000,王先生,暖气不热,供暖,热力公司,结案,2025-03-03 09:00,2025-03-03 10:00,2025-03-04 09:00,已修复,满意\n" +
		"A-2,13800138001,李女士,暖气漏水,投诉/供暖,市热力公司,办理中,2025-03-05 09:00,2025-03-05 10:00,,,\n" +
		"A-3,13800138002,赵先生,暖气不热,供暖,市自来水公司,结案,2025-03-06 09:00,2025-03-06 10:00,2025-03-07 09:00,已修复,满意\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	mapping := filepath.Join(dir, "mapping.yaml")
	if err := os.WriteFile(mapping, []byte("source: old-12345\ndepartments:\n  热力公司: SRLGS\nstatuses:\n  结案: completed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "refused.csv")
	code, stdout, stderr := runCLI(t, env, "", "import", "tickets", "--mapping", mapping, "--column", "ref=受理编号", "--dry-run", "--report", report, file)
	if code != exitFailure || !strings.Contains(stdout, "row 4, column 承办单位: unknown_department: ") ||
		!strings.Contains(stdout, "dry run: old-12345: 3 rows read, would import 2, 0 already imported, 1 refused, 1 satisfaction results") ||
		!strings.Contains(stderr, "1 rows refused") {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), "4,承办单位,unknown_department,") {
		t.Errorf("refusal report: %q %v", b, err)
	}
	code, stdout, stderr = runCLI(t, env, "", "import", "tickets", "--mapping", mapping, "--column", "ref=受理编号", file)
	if code != exitFailure || !strings.Contains(stdout, "old-12345: 3 rows read, imported 2, 0 already imported, 1 refused") {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, env, "", "import", "tickets", "--mapping", mapping, "--column", "ref=受理编号", file)
	if !strings.Contains(stdout, "imported 0, 2 already imported, 1 refused") {
		t.Fatalf("re-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(t, env, "", "audit", "verify"); code != exitOK || !strings.Contains(stdout, "ok: 2 tickets, 6 events") {
		t.Errorf("audit verify: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, env, "", "import", "tickets", file); code != exitUsage || !strings.Contains(stderr, "--source") {
		t.Errorf("without a source: exit %d, stderr %s", code, stderr)
	}
}
