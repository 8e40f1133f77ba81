package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

// TestPostgresWithoutJIT: sessions run without JIT compilation unless the URL asks for it.
func TestPostgresWithoutJIT(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("PostgreSQL only (REXIAN_TEST_DB=postgres)")
	}
	base := dbtest.URL(t)
	for _, tc := range []struct{ url, want string }{
		{base, "off"},
		{base + "&jit=on", "on"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		db, err := database.Open(ctx, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { database.Close(db) })
		var jit string
		if err := db.WithContext(ctx).Raw("SHOW jit").Scan(&jit).Error; err != nil {
			t.Fatal(err)
		}
		if jit != tc.want {
			t.Errorf("%s: jit is %q, want %q", tc.url, jit, tc.want)
		}
	}
}
