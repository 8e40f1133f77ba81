package sms

import (
	"strings"
	"testing"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

func sampleNotice(number string) NoticeInput {
	return NoticeInput{ApplicationNumber: number, ApplicantName: "王芳", Mobile: "13800138000", Item: "食品经营许可",
		Department: "市市场监督管理局", Hall: "市政务服务大厅二楼", Window: "12", ConfirmBy: "2026-12-05",
		Documents: []string{"营业执照", "法定代表人身份证"}}
}

func TestNoticeIdempotent(t *testing.T) {
	f := newFixture(t)
	first, created, err := f.svc.CreateNotice(f.ctx, "integrator:wsbs", sampleNotice("WS2026-0001"), false)
	if err != nil || !created {
		t.Fatalf("create = %v, %v", created, err)
	}
	want := "【12345市民热线】您好，您申请的食品经营许可已通过网上预审，请于2026年12月5日前携带营业执照、法定代表人身份证原件到市政务服务大厅二楼12号窗口现场确认。"
	if first.Message == nil || first.Message.Text != want {
		t.Fatalf("text %q\nwant %q", first.Message.Text, want)
	}
	changed := sampleNotice("WS2026-0001")
	changed.Mobile = "13900139000"
	again, created, err := f.svc.CreateNotice(f.ctx, "integrator:wsbs", changed, false)
	if err != nil || created || again.ID != first.ID || again.Message.ID != first.Message.ID || again.Mobile != "13800138000" {
		t.Fatalf("second post = %+v, %v, %v; want the first notice", again, created, err)
	}
	var n int64
	f.db.Model(&Message{}).Where("kind = ?", KindApplicationNotice).Count(&n)
	if n != 1 {
		t.Fatalf("%d notice messages; want 1", n)
	}
	f.sendAll(t)
	got, err := f.svc.Notice(f.ctx, "WS2026-0001", true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Message.Status != StatusSubmitted || got.Mobile != "138****8000" || got.Message.To != "138****8000" || len(got.Message.Parts) != 2 {
		t.Fatalf("notice after sending: %+v", got)
	}
	_, err = f.svc.Notice(f.ctx, "WS2026-9999", false)
	wantCode(t, err, api.ErrNotFound, "notice_not_found")
}

func TestNoticeBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		mod  func(*NoticeInput)
		code string
	}{
		{"no number", func(n *NoticeInput) { n.ApplicationNumber = "" }, "empty_application_number"},
		{"bad number", func(n *NoticeInput) { n.ApplicationNumber = "申请 1" }, "invalid_application_number"},
		{"landline", func(n *NoticeInput) { n.Mobile = "0477-8581234" }, "landline"},
		{"bad mobile", func(n *NoticeInput) { n.Mobile = "138" }, "invalid_phone"},
		{"no documents", func(n *NoticeInput) { n.Documents = []string{" "} }, "empty_documents"},
		{"bad date", func(n *NoticeInput) { n.ConfirmBy = "12/05/2026" }, "invalid_confirm_by"},
		{"past date", func(n *NoticeInput) { n.ConfirmBy = "2026-11-01" }, "confirm_by_past"},
		{"no hall", func(n *NoticeInput) { n.Hall = "" }, "empty_hall"},
		{"too long for the part limit", func(n *NoticeInput) {
			n.Documents = nil
			for range 20 {
				n.Documents = append(n.Documents, strings.Repeat("证", 30))
			}
		}, "too_long"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleNotice("BAD-" + string(rune('A'+i)))
			tt.mod(&in)
			_, _, err := f.svc.CreateNotice(f.ctx, "integrator:wsbs", in, false)
			wantCode(t, err, api.ErrInvalid, tt.code)
		})
	}
	var n int64
	f.db.Model(&Notice{}).Count(&n)
	if n != 0 {
		t.Fatalf("%d notices stored from bad input", n)
	}
}

func TestImportNoticesCSV(t *testing.T) {
	f := newFixture(t)
	csv := "\uFEFF申请编号,申请人,手机号,事项,部门,大厅,窗口,确认截止日期,材料,备注\n" +
		"WS-1,王芳,13800138000,食品经营许可,市市场监督管理局,市政务服务大厅,12,2026-12-05,营业执照、身份证,\n" +
		"WS-2,李强,0477-8581234,户口迁移,市公安局,市政务服务大厅,3,2026-12-05,户口簿,座机\n" +
		"\n" +
		"WS-3,赵敏,13900139000,社保证明,市人社局,市政务服务大厅,5,2026-11-01,身份证,过期\n" +
		"WS-1,王芳,13800138000,食品经营许可,市市场监督管理局,市政务服务大厅,12,2026-12-05,营业执照,重复\n" +
		"WS-4,周杰,13700137000,不动产登记,市自然资源局,不动产登记中心,1,2026-12-10,产权证;身份证,\n" +
		"WS-5,\"孙,13700137001,x,y,z,1,2026-12-10,a\n"
	res, err := f.svc.ImportNotices(f.ctx, "operator:zhang", strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		line   int
		result string
		code   string
	}
	want := []row{{2, "created", ""}, {3, "error", "landline"}, {5, "error", "confirm_by_past"}, {6, "existing", ""}, {7, "created", ""},
		{8, "error", "invalid_csv"}}
	if len(res.Rows) != len(want) {
		t.Fatalf("rows %+v", res.Rows)
	}
	for i, w := range want {
		r := res.Rows[i]
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if r.Line != w.line || r.Result != w.result || code != w.code {
			t.Errorf("row %d = line %d %s %s; want %+v", i, r.Line, r.Result, code, w)
		}
	}
	if res.Created != 2 || res.Existing != 1 || res.Failed != 3 {
		t.Fatalf("counts %d/%d/%d", res.Created, res.Existing, res.Failed)
	}
	n4, err := f.svc.Notice(f.ctx, "WS-4", false)
	if err != nil || len(n4.Documents) != 2 {
		t.Fatalf("WS-4 = %+v, %v", n4, err)
	}

	t.Run("English header and GBK", func(t *testing.T) {
		gbk := []byte("application_number,applicant_name,mobile,item,hall,window,confirm_by,documents\nE-1,")
		gbk = append(gbk, 0xcd, 0xf5, 0xb7, 0xbc) // 王芳 in GBK
		gbk = append(gbk, []byte(",13800138000,ID,Hall,1,2026-12-05,ID card\n")...)
		res, err := f.svc.ImportNotices(f.ctx, "operator:zhang", strings.NewReader(string(gbk)))
		if err != nil || res.Created != 1 {
			t.Fatalf("import = %+v, %v", res, err)
		}
		n, _ := f.svc.Notice(f.ctx, "E-1", false)
		if n.ApplicantName != "王芳" {
			t.Fatalf("name %q", n.ApplicantName)
		}
	})
	t.Run("missing columns", func(t *testing.T) {
		_, err := f.svc.ImportNotices(f.ctx, "operator:zhang", strings.NewReader("申请编号,手机号\nX,13800138000\n"))
		wantCode(t, err, api.ErrInvalid, "missing_columns")
	})
	t.Run("empty", func(t *testing.T) {
		_, err := f.svc.ImportNotices(f.ctx, "operator:zhang", strings.NewReader(""))
		wantCode(t, err, api.ErrInvalid, "empty_upload")
	})
}

func TestMaterialsNotice(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.LoadDemoMaterials(f.ctx); err != nil {
		t.Fatal(err)
	}
	msg, created, err := f.svc.SendMaterialsNotice(f.ctx, &auth.Principal{Name: "zhang", Role: auth.RoleOperator}, MaterialsNoticeInput{Item: "HJQY", Mobile: "13800138000", IdempotencyKey: "c1"})
	if err != nil || !created {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "户口迁移需携带以下材料：居民户口簿、居民身份证、准迁证明") {
		t.Fatalf("text %q", msg.Text)
	}
	again, created, _ := f.svc.SendMaterialsNotice(f.ctx, &auth.Principal{Name: "zhang", Role: auth.RoleOperator}, MaterialsNoticeInput{Item: "HJQY", Mobile: "13800138000", IdempotencyKey: "c1"})
	if created || again.ID != msg.ID {
		t.Fatal("same idempotency key sent twice")
	}
	_, _, err = f.svc.SendMaterialsNotice(f.ctx, &auth.Principal{Name: "zhang", Role: auth.RoleOperator}, MaterialsNoticeInput{Item: "NOPE", Mobile: "13800138000"})
	wantCode(t, err, api.ErrInvalid, "unknown_item")
	_, _, err = f.svc.SendMaterialsNotice(f.ctx, &auth.Principal{Name: "zhang", Role: auth.RoleOperator}, MaterialsNoticeInput{Item: "HJQY", Mobile: "0477-8581234"})
	wantCode(t, err, api.ErrInvalid, "landline")
	_, err = f.svc.SaveMaterialItem(f.ctx, "admin:root", MaterialItemInput{Code: "X", Name: "空", Materials: nil})
	wantCode(t, err, api.ErrInvalid, "empty_materials")
}
