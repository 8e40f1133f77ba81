package sms

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

func TestMaterialItemElements(t *testing.T) {
	f := newFixture(t)
	// The API's body: the elements sit beside the name and materials.
	var in MaterialItemInput
	body := `{"name":"居住证办理","materials":["居民身份证"],"legal_basis":" 《居住证暂行条例》 ","time_limit":"7 个工作日",
		"preconditions":"在本市居住半年以上","process":"申请 → 受理 → 审核 → 制证","fee_basis":"《居住证暂行条例》第十一条","fee_standard":"首次不收费"}`
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	in.Code = "JZZ"
	v, err := f.svc.SaveMaterialItem(f.ctx, "admin:root", in)
	if err != nil {
		t.Fatal(err)
	}
	want := ItemElements{LegalBasis: "《居住证暂行条例》", TimeLimit: "7 个工作日", Preconditions: "在本市居住半年以上",
		Process: "申请 → 受理 → 审核 → 制证", FeeBasis: "《居住证暂行条例》第十一条", FeeStandard: "首次不收费"}
	if d := gocmp.Diff(want, v.ItemElements); d != "" {
		t.Errorf("saved elements (-want +got):\n%s", d)
	}
	// Saving again replaces every element, an empty one too.
	in.FeeStandard = ""
	if v, err = f.svc.SaveMaterialItem(f.ctx, "admin:root", in); err != nil || v.FeeStandard != "" || v.Process != want.Process {
		t.Errorf("resaved %+v (%v)", v, err)
	}
	out, _ := json.Marshal(v)
	for _, key := range []string{`"legal_basis"`, `"time_limit"`, `"preconditions"`, `"process"`, `"fee_basis"`, `"fee_standard"`} {
		if !strings.Contains(string(out), key) {
			t.Errorf("the item's JSON lacks %s: %s", key, out)
		}
	}
	in.TimeLimit = strings.Repeat("日", 256)
	_, err = f.svc.SaveMaterialItem(f.ctx, "admin:root", in)
	wantCode(t, err, api.ErrInvalid, "time_limit_too_long")

	if err := f.svc.LoadDemoMaterials(f.ctx); err != nil {
		t.Fatal(err)
	}
	items, err := f.svc.MaterialItems(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		e := it.ItemElements
		if e.LegalBasis == "" || e.TimeLimit == "" || e.Preconditions == "" || e.Process == "" || e.FeeBasis == "" ||
			(e.FeeStandard == "" && it.Code != "JZZ") {
			t.Errorf("item %s lacks elements: %+v", it.Code, e)
		}
	}
}

// TestMaterialItemSavedInactive: an item first saved as inactive is stored inactive (a
// default in the model's tag made gorm insert true), and saving it active again turns it on.
func TestMaterialItemSavedInactive(t *testing.T) {
	f := newFixture(t)
	no, yes := false, true
	in := MaterialItemInput{Code: "OLD", Name: "旧事项", Materials: []string{"居民身份证"}, Active: &no}
	v, err := f.svc.SaveMaterialItem(f.ctx, "admin:root", in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Active {
		t.Errorf("item saved with active=false reads active")
	}
	in.Active = &yes
	if v, err = f.svc.SaveMaterialItem(f.ctx, "admin:root", in); err != nil || !v.Active {
		t.Errorf("item saved again with active=true: %+v (%v)", v, err)
	}
}

// TestMaterialItemElementsMigration: items saved before the elements existed keep their
// data, read with empty elements, and the demo items get theirs.
func TestMaterialItemElementsMigration(t *testing.T) {
	env := ticketstest.New(t, ticketstest.Options{City: tickets.DemoCity(), Migrations: append(auth.Migrations(), Migrations()[:1]...)})
	if err := env.DB.Exec(`INSERT INTO sms_material_items (code, name, department, hall, materials, active, updated_by, created_at, updated_at)
		VALUES ('HJQY', '户口迁移（旧）', '市公安局', '', '["居民户口簿"]', true, 'admin:root', ?, ?), ('OLD', '旧事项', '', '', '["身份证"]', true, 'admin:root', ?, ?)`,
		monday10, monday10, monday10, monday10).Error; err != nil {
		t.Fatal(err)
	}
	steps := append(append(tickets.Migrations(), auth.Migrations()...), Migrations()...)
	slices.SortStableFunc(steps, func(a, b *database.Migration) int { return cmp.Compare(a.ID, b.ID) })
	if err := database.Migrate(env.Ctx, env.DB, steps); err != nil {
		t.Fatal(err)
	}
	f := serviceFixture(t, env.Ctx, env.DB, env.Store, ticketstest.NewClock(monday10))
	if err := f.svc.LoadDemoMaterials(f.ctx); err != nil {
		t.Fatal(err)
	}
	items, err := f.svc.MaterialItems(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]MaterialItemView{}
	for _, it := range items {
		got[it.Code] = it
	}
	if old := got["OLD"]; old.Name != "旧事项" || !old.ItemElements.empty() {
		t.Errorf("an old item %+v", old)
	}
	if h := got["HJQY"]; h.Name != "户口迁移（旧）" || !slices.Equal(h.Materials, []string{"居民户口簿"}) || h.LegalBasis == "" || h.FeeStandard == "" {
		t.Errorf("the demo item saved before the elements: %+v", h)
	}
}
