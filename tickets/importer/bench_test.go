package importer

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// benchRows is the size of the file of BenchmarkImport: a large city's year.
const benchRows = 100_000

// benchRow is row i of the benchmark's file: eight in ten completed with a satisfaction
// result, one still being handled, one at the desk; registered over 2025.
func benchRow(i int) []string {
	r := good(i, []string{"满意", "基本满意", "不满意", ""}[i%4])
	reg := time.Date(2025, 1, 2, 8, 0, 0, 0, shanghai).Add(time.Duration(i) * 4 * time.Minute)
	f := func(t time.Time) string { return t.Format("2006-01-02 15:04:05") }
	col := func(name string) int {
		for k, h := range header {
			if h == name {
				return k
			}
		}
		panic(name)
	}
	r[col("受理时间")], r[col("派单时间")] = f(reg), f(reg.Add(time.Hour))
	r[col("回复时间")], r[col("办结时间")] = f(reg.Add(26*time.Hour)), f(reg.Add(27*time.Hour))
	switch i % 10 {
	case 0:
		r[col("状态")], r[col("回复时间")], r[col("办结时间")], r[col("办理结果")], r[col("满意度")] = "办理中", "", "", "", ""
	case 1:
		r[col("状态")], r[col("承办单位")], r[col("派单时间")], r[col("回复时间")], r[col("办结时间")], r[col("办理结果")], r[col("满意度")] =
			"待派单", "", "", "", "", "", ""
	}
	return r
}

// BenchmarkImport imports a 100,000-row .xlsx into a fresh database per iteration and
// reports rows per second and the heap's peak while it runs (sampled every 50 ms).
// Run it with -benchtime=1x; REXIAN_TEST_DB=postgres for PostgreSQL.
func BenchmarkImport(b *testing.B) {
	rows := make([][]string, 0, benchRows+1)
	rows = append(rows, header)
	for i := 1; i <= benchRows; i++ {
		rows = append(rows, benchRow(i))
	}
	path := xlsxFile(b, filepath.Join(b.TempDir(), "year.xlsx"), rows)
	rows = nil
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		e := newEnv(b)
		e.im = New(Options{Store: e.te.Store, Location: shanghai, Now: e.clk.Now}) // the default batch, as the CLI runs
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		peak, stop := sampleHeap()
		b.StartTimer()
		began := time.Now()
		// The loaded machines tests run on take longer than an Env's timeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		rep, err := e.im.Run(ctx, path, Mapping{Source: "bench"}, false)
		cancel()
		elapsed := time.Since(began)
		b.StopTimer()
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Imported != benchRows || len(rep.Refused) != 0 {
			b.Fatalf("import: %s %v", rep.Summary(), rep.Refused[:min(5, len(rep.Refused))])
		}
		b.ReportMetric(float64(benchRows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(*peak-before.HeapInuse)/(1<<20), "peak-heap-MB")
		b.Logf("%d rows in %s: %.0f rows/s, heap peak %.0f MB above the start, GOMAXPROCS %d",
			benchRows, elapsed.Round(time.Millisecond), float64(benchRows)/elapsed.Seconds(),
			float64(*peak-before.HeapInuse)/(1<<20), runtime.GOMAXPROCS(0))
	}
}

// sampleHeap samples the heap in use until stop is called; *peak is the most seen.
func sampleHeap() (peak *uint64, stop func()) {
	peak = new(uint64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > *peak {
				*peak = m.HeapInuse
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return peak, func() { close(done); <-finished }
}
