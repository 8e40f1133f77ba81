//go:build ignore

// Command testsummary reads `go test -json` from stdin and keeps the terminal readable:
// one line per package, the full output of every failed test (and of a package that
// failed without a failing test, such as a build error or a timeout), and at the end one
// line "LABEL: N passed, N failed, N skipped". With -counts FILE it also writes
// "PASSED FAILED SKIPPED" to FILE for scripts/test to add up. It exits 1 when anything
// failed. Lines that are not JSON (go's own errors) are printed as they come.
//
//	go test -json ./... 2>&1 | go run scripts/testsummary.go -label sqlite
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string // build-output events
	FailedBuild string // a package fail caused by a build error
}

type key struct{ pkg, test string }

func main() {
	label := flag.String("label", "tests", "name of this run, for the summary line")
	countsFile := flag.String("counts", "", "write PASSED FAILED SKIPPED to this file")
	flag.Parse()

	var passed, failed, skipped int
	testOutput := map[key][]string{}
	pkgOutput := map[string][]string{}
	buildOutput := map[string][]string{}
	failedTests := map[string]int{}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()

	printBlock := func(title string, lines []string) {
		fmt.Fprintf(out, "\n---- %s\n", title)
		for _, l := range lines {
			out.WriteString(l)
			if !strings.HasSuffix(l, "\n") {
				out.WriteString("\n")
			}
		}
		fmt.Fprintln(out, "----")
		out.Flush()
	}

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
			fmt.Fprintln(out, line)
			out.Flush()
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			if e.Test != "" {
				testOutput[k] = append(testOutput[k], e.Output)
			} else {
				pkgOutput[e.Package] = append(pkgOutput[e.Package], e.Output)
			}
		case "build-output":
			buildOutput[e.ImportPath] = append(buildOutput[e.ImportPath], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
				delete(testOutput, k)
			} else {
				fmt.Fprintf(out, "ok    %-50s %6.1fs\n", e.Package, e.Elapsed)
				out.Flush()
			}
		case "skip":
			if e.Test != "" {
				skipped++
				delete(testOutput, k)
			}
		case "fail":
			if e.Test != "" {
				failed++
				failedTests[e.Package]++
				printBlock("FAIL "+e.Package+" "+e.Test, testOutput[k])
				delete(testOutput, k)
				continue
			}
			if failedTests[e.Package] == 0 {
				// No test failed, yet the package did: a build error, a panic outside a
				// test, a timeout or an os.Exit. Count it so it cannot pass unnoticed.
				failed++
				lines := append(buildOutput[e.FailedBuild], pkgOutput[e.Package]...)
				printBlock("FAIL "+e.Package+" (no single test failed)", lines)
			}
			fmt.Fprintf(out, "FAIL  %-50s %6.1fs\n", e.Package, e.Elapsed)
			out.Flush()
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading go test output: %v\n", err)
		failed++
	}
	fmt.Fprintf(out, "%s: %d passed, %d failed, %d skipped\n", *label, passed, failed, skipped)
	if *countsFile != "" {
		if err := os.WriteFile(*countsFile, fmt.Appendf(nil, "%d %d %d\n", passed, failed, skipped), 0o644); err != nil {
			fmt.Fprintf(out, "testsummary: %v\n", err)
			failed++
		}
	}
	out.Flush()
	if failed > 0 {
		os.Exit(1)
	}
}
