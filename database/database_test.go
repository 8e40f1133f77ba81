package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

// TestPostgresSessionDefaults: sessions run without JIT compilation and without parallel
// workers unless the URL asks for them.
func TestPostgresSessionDefaults(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("PostgreSQL only (REXIAN_TEST_DB=postgres)")
	}
	base := dbtest.URL(t)
	for _, tc := range []struct{ url, jit, workers string }{
		{base, "off", "0"},
		{base + "&jit=on", "on", "0"},
		{base + "&max_parallel_workers_per_gather=2", "off", "2"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		db, err := database.Open(ctx, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { database.Close(db) })
		for setting, want := range map[string]string{"jit": tc.jit, "max_parallel_workers_per_gather": tc.workers} {
			var got string
			if err := db.WithContext(ctx).Raw("SHOW " + setting).Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: %s is %q, want %q", tc.url, setting, got, want)
			}
		}
	}
}
