// Package piitest gives tests personal-data keys and a look at what is stored.
package piitest

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/rexian/rexian/pii"
)

// Text are keys for tests only: an SM4 key "t1" and a blind-index key "t1".
const Text = "key t1 00112233445566778899aabbccddeeff\nindex t1 " +
	"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// Install puts the test keys on db, so that what the test writes is sealed.
func Install(t testing.TB, db *gorm.DB) *pii.Keyring {
	t.Helper()
	k, err := pii.Parse(Text)
	if err != nil {
		t.Fatal(err)
	}
	if err := pii.Install(db, k); err != nil {
		t.Fatal(err)
	}
	return k
}

// Stored reads column of table's rows as stored, without opening it (the plugin opens
// only what is read through a model), in the order of key.
func Stored(t testing.TB, db *gorm.DB, table, column, key string) []string {
	t.Helper()
	var out []string
	if err := db.Table(table).Order(key).Pluck(column, &out).Error; err != nil {
		t.Fatalf("read %s.%s: %v", table, column, err)
	}
	return out
}

// WantSealed fails the test unless every value is sealed or empty, and none holds plain
// (a number that must not be readable in the database).
func WantSealed(t testing.TB, what string, values []string, plain string) {
	t.Helper()
	if len(values) == 0 {
		t.Errorf("%s: nothing stored", what)
	}
	for _, v := range values {
		if _, ok := pii.IsSealed(v); (!ok && v != "") || (plain != "" && strings.Contains(v, plain)) {
			t.Errorf("%s stored as %q: want it sealed", what, v)
		}
	}
}
