package tickets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/pii"
)

// testKeys are personal-data keys for tests; the second set adds a newer key of each kind.
const (
	testKeys  = "key k1 00112233445566778899aabbccddeeff\nindex i1 " + "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
	testKeys2 = testKeys + "key k2 ffeeddccbbaa99887766554433221100\nindex i2 " + "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5\n"
)

func mustKeys(t testing.TB, text string) *pii.Keyring {
	t.Helper()
	k, err := pii.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealedFixture is a fixture whose database seals personal data with keys.
func sealedFixture(t *testing.T, keys string) *fixture {
	t.Helper()
	f := newFixture(t)
	if err := pii.Install(f.store.db, mustKeys(t, keys)); err != nil {
		t.Fatal(err)
	}
	return f
}

// rawCitizen reads a ticket's personal-data columns as the database holds them.
func rawCitizen(t *testing.T, f *fixture, number string) (name, tel, idx, email string) {
	t.Helper()
	row := f.store.db.WithContext(f.ctx).Raw(`SELECT citizen_name, citizen_phone, citizen_phone_idx, citizen_email FROM tickets WHERE number = ?`, number).Row()
	if err := row.Scan(&name, &tel, &idx, &email); err != nil {
		t.Fatal(err)
	}
	return name, tel, idx, email
}

func TestPersonalDataSealedAtRest(t *testing.T) {
	f := sealedFixture(t, testKeys)
	in := heating()
	in.Citizen.Email = "li@example.cn"
	first := f.create(t, in)
	second := f.create(t, in) // the same citizen again: a possible duplicate

	// The database holds no plain personal data, only values sealed with the current key.
	name, tel, idx, email := rawCitizen(t, f, first.Number)
	for col, v := range map[string]string{"citizen_name": name, "citizen_phone": tel, "citizen_email": email} {
		if id, ok := pii.IsSealed(v); !ok || id != "k1" {
			t.Errorf("%s = %q, want a value sealed with k1", col, v)
		}
		for _, plain := range []string{"李女士", "13812345678", "li@example.cn", "5678"} {
			if strings.Contains(v, plain) {
				t.Errorf("%s = %q holds %q in plain text", col, v, plain)
			}
		}
	}
	if !strings.HasPrefix(idx, "i1:") {
		t.Errorf("citizen_phone_idx = %q, want the blind index under i1", idx)
	}
	var plainRows int64
	if err := f.store.db.WithContext(f.ctx).Raw(`SELECT count(*) FROM tickets WHERE citizen_phone LIKE '%5678%' OR citizen_name LIKE '%李%'`).Scan(&plainRows).Error; err != nil {
		t.Fatal(err)
	}
	if plainRows != 0 {
		t.Errorf("a raw SELECT finds %d tickets by the plain phone number or name", plainRows)
	}

	// What the desk sees is the plain data.
	v, err := f.store.Find(f.ctx, operator, first.Number)
	if err != nil {
		t.Fatal(err)
	}
	if v.Citizen.Name != "李女士" || v.Citizen.Phone != "13812345678" || v.Citizen.Email != "li@example.cn" {
		t.Errorf("the desk sees %+v, want the plain name, phone and e-mail", v.Citizen)
	}
	if len(second.PossibleDuplicates) != 1 || second.PossibleDuplicates[0] != first.Number {
		t.Errorf("duplicates of the second registration = %v, want [%s]", second.PossibleDuplicates, first.Number)
	}

	// Search by phone, as a filter and as typed text, finds both.
	for _, flt := range []Filter{{Phone: "13812345678"}, {Text: "138 1234 5678"}} {
		got := f.listed(t, operator, flt, api.Page{Page: 1, PerPage: 20})
		if len(got) != 2 {
			t.Errorf("search %+v found %v, want both tickets", flt, got)
		}
	}
	if got := f.listed(t, operator, Filter{Phone: "13812345679"}, api.Page{Page: 1, PerPage: 20}); len(got) != 0 {
		t.Errorf("another number found %v", got)
	}
	items, _, err := f.store.List(f.ctx, operator, Filter{Phone: "13812345678"}, api.Page{Page: 1, PerPage: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.CitizenPhone != "13812345678" {
			t.Errorf("list shows phone %q, want the plain number", it.CitizenPhone)
		}
	}

	// A workflow step saves the whole ticket: the data stays sealed and readable.
	f.act(t, operator, first.Number, ActDispatch, ActionRequest{Departments: []string{"DS-ZJ"}})
	if _, tel, _, _ := rawCitizen(t, f, first.Number); !strings.HasPrefix(tel, pii.Prefix) {
		t.Errorf("after dispatch citizen_phone = %q, want it sealed", tel)
	}
	if v, err := f.store.Find(f.ctx, operator, first.Number); err != nil || v.Citizen.Phone != "13812345678" {
		t.Errorf("after dispatch: phone %q, err %v", v.Citizen.Phone, err)
	}
}

func TestPersonalDataWrongOrMissingKeyFailsClearly(t *testing.T) {
	f := sealedFixture(t, testKeys)
	v := f.create(t, heating())

	other := "key k1 ffeeddccbbaa99887766554433221100\nindex i1 " + strings.Repeat("11", 32)
	for _, tc := range []struct{ name, keys, want string }{
		{"wrong key under the same id", other, `"k1" does not open the value`},
		{"key not configured", "key k9 ffeeddccbbaa99887766554433221100\nindex i9 " + strings.Repeat("22", 32), `"k1" is not configured`},
		{"no keys at all", "", `"k1" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(reopen(t, f, tc.keys), f.store.opts)
			_, err := s.Find(f.ctx, operator, v.Number)
			if !errors.Is(err, pii.ErrKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Find with %s: err = %v, want ErrKey saying %s", tc.name, err, tc.want)
			}
		})
	}
}

func TestPersonalDataPlainRowsStillFound(t *testing.T) {
	// Tickets registered before keys were configured stay readable and findable.
	f := newFixture(t)
	old := f.create(t, heating())
	if err := pii.Install(f.store.db, mustKeys(t, testKeys)); err != nil {
		t.Fatal(err)
	}
	newer := f.create(t, heating())
	got := f.listed(t, operator, Filter{Phone: "13812345678"}, api.Page{Page: 1, PerPage: 20})
	if len(got) != 2 {
		t.Fatalf("search by phone found %v, want %s and %s", got, old.Number, newer.Number)
	}
	if v, err := f.store.Find(f.ctx, operator, old.Number); err != nil || v.Citizen.Phone != "13812345678" {
		t.Fatalf("plain ticket: phone %q, err %v", v.Citizen.Phone, err)
	}
}

// reopen is a second connection to f's database with other keys, as a process
// configured with them would have.
func reopen(t *testing.T, f *fixture, keys string) *gorm.DB {
	t.Helper()
	db := dbtest.OpenURL(t, f.url)
	if err := pii.Install(db, mustKeys(t, keys)); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestResealRotatesKeysInBatches(t *testing.T) {
	f := newFixture(t)
	plain := f.create(t, heating()) // before any keys: stored in plain text
	if err := pii.Install(f.store.db, mustKeys(t, testKeys)); err != nil {
		t.Fatal(err)
	}
	var numbers []string
	numbers = append(numbers, plain.Number)
	for range 4 {
		numbers = append(numbers, f.create(t, heating()).Number)
	}

	// A process with the newer keys re-seals; the first run is stopped after one batch.
	db2 := reopen(t, f, testKeys2)
	ctx, cancel := context.WithCancel(f.ctx)
	rep, err := Reseal(ctx, db2, 2, func(ResealReport) { cancel() })
	if !errors.Is(err, context.Canceled) || rep.Resealed != 2 {
		t.Fatalf("stopped run: %+v, %v; want 2 resealed and context.Canceled", rep, err)
	}
	rep, err = Reseal(f.ctx, db2, 2, nil)
	if err != nil || rep.Resealed != 3 {
		t.Fatalf("resumed run: %+v, %v; want the other 3 resealed", rep, err)
	}
	if rep, err := Reseal(f.ctx, db2, 2, nil); err != nil || rep.Resealed != 0 {
		t.Fatalf("third run: %+v, %v; want nothing left to do", rep, err)
	}
	for _, n := range numbers {
		name, tel, idx, _ := rawCitizen(t, f, n)
		if id, _ := pii.IsSealed(tel); id != "k2" || !strings.HasPrefix(idx, "i2:") {
			t.Errorf("ticket %s: phone sealed with %q, index %q; want k2 and i2", n, id, idx)
		}
		if id, _ := pii.IsSealed(name); id != "k2" {
			t.Errorf("ticket %s: name sealed with %q, want k2", n, id)
		}
	}

	// The old keys can go: a process with only the new ones reads and finds everything.
	onlyNew := "key k2 ffeeddccbbaa99887766554433221100\nindex i2 " + strings.Repeat("a5", 32)
	s := NewStore(reopen(t, f, onlyNew), f.store.opts)
	items, _, err := s.List(f.ctx, operator, Filter{Phone: "13812345678"}, api.Page{Page: 1, PerPage: 20})
	if err != nil || len(items) != len(numbers) {
		t.Fatalf("search with only the new keys: %d tickets, %v; want %d", len(items), err, len(numbers))
	}
	for _, it := range items {
		if it.CitizenPhone != "13812345678" {
			t.Errorf("ticket %s shows %q", it.Number, it.CitizenPhone)
		}
	}
	if _, err := Reseal(f.ctx, dbtest.OpenURL(t, f.url), 2, nil); err == nil || !strings.Contains(err.Error(), "no personal-data keys") {
		t.Errorf("reseal without keys: err = %v, want it refused", err)
	}
}
