package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rexian/rexian/dashboards/dashtest"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

// Targets of a ticket download (issue: "an .xlsx export of 100,000 tickets finishes in
// under 10 s with under 100 MB of heap").
const (
	exportTarget     = 10 * time.Second
	exportHeapTarget = 100 << 20
)

// BenchmarkExportTickets downloads every ticket of a seeded city as a workbook through
// the console's handler, and reports the time and the peak heap seen while it ran
// (sampled every few milliseconds). It needs PostgreSQL, as the seed does:
//
//	REXIAN_TEST_DB=postgres REXIAN_EXPORT_TICKETS=100000 go test -run '^$' -bench ExportTickets -benchtime 1x ./web/
func BenchmarkExportTickets(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("REXIAN_EXPORT_TICKETS"))
	if n <= 0 {
		n = 100000
	}
	if dbtest.Kind() != database.Postgres {
		b.Skip("set REXIAN_TEST_DB=postgres (the seed loads PostgreSQL)")
	}
	f := newFixture(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	b.Cleanup(cancel)
	sqlDB, err := f.env.DB.DB()
	if err != nil {
		b.Fatal(err)
	}
	if err := dashtest.Seed(ctx, sqlDB, n, f.clock.Now(), func(string, ...any) {}); err != nil {
		b.Fatal(err)
	}
	cookies := signIn(b, ctx, f, "sup")
	engine := f.srv.Config.Handler
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		}()
		began := time.Now()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/console/export/tickets", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		// The workbook goes to a file, as it would go to the network: a recorder would
		// hold it in the heap being measured.
		out, err := os.CreateTemp(b.TempDir(), "tickets-*.xlsx")
		if err != nil {
			b.Fatal(err)
		}
		w := &fileResponse{header: http.Header{}, w: out}
		engine.ServeHTTP(w, req)
		took := time.Since(began)
		close(done)
		<-sampled
		if w.status != http.StatusOK {
			b.Fatalf("download: status %d", w.status)
		}
		b.StopTimer()
		rows := countRows(b, out)
		out.Close()
		if rows != n+1 {
			b.Errorf("the workbook has %d rows, want %d tickets and the header", rows, n)
		}
		heap := peak.Load()
		b.ReportMetric(took.Seconds(), "s/export")
		b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(heap-min(heap, base.HeapAlloc))/(1<<20), "heap-growth-MB")
		b.Logf("%d tickets: %s, peak heap %.1f MB (%.1f MB before)", n, took.Round(time.Millisecond),
			float64(heap)/(1<<20), float64(base.HeapAlloc)/(1<<20))
		if took > exportTarget {
			b.Errorf("the download of %d tickets took %s; the target is %s", n, took.Round(time.Millisecond), exportTarget)
		}
		if heap > exportHeapTarget {
			b.Errorf("the heap reached %.1f MB; the target is %d MB", float64(heap)/(1<<20), exportHeapTarget>>20)
		}
		b.StartTimer()
	}
}

// fileResponse is an http.ResponseWriter into a file.
type fileResponse struct {
	header http.Header
	status int
	w      io.Writer
}

func (r *fileResponse) Header() http.Header { return r.header }
func (r *fileResponse) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *fileResponse) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.w.Write(p)
}

// countRows reads the workbook back with excelize's row iterator.
func countRows(b *testing.B, f *os.File) int {
	b.Helper()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	x, err := excelize.OpenReader(f)
	if err != nil {
		b.Fatalf("the download is not a workbook: %v", err)
	}
	defer x.Close()
	rows, err := x.Rows(x.GetSheetName(0))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n
}
