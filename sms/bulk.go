package sms

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rexian/rexian/api"
)

// The bulk form lets a service window without an integration upload its notices as CSV:
// a header row (Chinese or English column names), one notice per row. Every row is tried
// on its own: a bad row is reported with its line number and does not stop the others.

// noticeColumns maps header names to fields.
var noticeColumns = map[string]string{
	"application_number": "application_number", "application": "application_number", "申请编号": "application_number",
	"申请号": "application_number", "业务编号": "application_number", "受理编号": "application_number",
	"applicant_name": "applicant_name", "name": "applicant_name", "申请人": "applicant_name", "姓名": "applicant_name",
	"mobile": "mobile", "phone": "mobile", "手机号": "mobile", "手机": "mobile", "手机号码": "mobile", "联系电话": "mobile",
	"item": "item", "事项": "item", "事项名称": "item", "申请事项": "item",
	"department": "department", "部门": "department", "受理部门": "department", "办理部门": "department",
	"hall": "hall", "大厅": "hall", "办事大厅": "hall", "地点": "hall", "地址": "hall",
	"window": "window", "窗口": "window", "窗口号": "window",
	"confirm_by": "confirm_by", "date": "confirm_by", "确认截止日期": "confirm_by", "截止日期": "confirm_by", "确认日期": "confirm_by",
	"documents": "documents", "材料": "documents", "原件": "documents", "所需材料": "documents", "携带材料": "documents",
}

var requiredColumns = []string{"application_number", "applicant_name", "mobile", "item", "hall", "window", "confirm_by", "documents"}

// MaxBulkRows bounds one upload.
const MaxBulkRows = 5000

// BulkRow is the outcome of one CSV row.
type BulkRow struct {
	Line              int        `json:"line"`
	ApplicationNumber string     `json:"application_number,omitempty"`
	Result            string     `json:"result"` // created, existing or error
	NoticeID          uint64     `json:"notice_id,omitempty"`
	MessageID         uint64     `json:"message_id,omitempty"`
	Error             *BodyError `json:"error,omitempty"`
}

// BodyError is a row's error as the API's error envelope has it.
type BodyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// BulkResult is the outcome of an upload.
type BulkResult struct {
	Created  int       `json:"created"`
	Existing int       `json:"existing"`
	Failed   int       `json:"failed"`
	Rows     []BulkRow `json:"rows"`
}

// ImportNotices reads notices from CSV (UTF-8, with or without BOM, or GBK as Excel
// saves it) and creates each row's notice.
func (s *Service) ImportNotices(ctx context.Context, actor string, r io.Reader) (BulkResult, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 8<<20+1))
	if err != nil {
		return BulkResult{}, fmt.Errorf("sms: read upload: %w", err)
	}
	if len(raw) > 8<<20 {
		return BulkResult{}, api.Errorf(api.ErrTooLarge, "upload_too_large", "the CSV file is over 8 MiB; split it")
	}
	raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF"))
	if !utf8.Valid(raw) {
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(raw)
		if err != nil || !utf8.Valid(dec) {
			return BulkResult{}, api.Errorf(api.ErrInvalid, "invalid_encoding", "the CSV file is neither UTF-8 nor GBK text")
		}
		raw = dec
	}
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return BulkResult{}, api.Errorf(api.ErrInvalid, "empty_upload", "the CSV file is empty; it needs a header row and one notice per row")
	}
	if err != nil {
		return BulkResult{}, api.Errorf(api.ErrInvalid, "invalid_csv", "the header row is not CSV: %v", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		name, ok := noticeColumns[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			continue // extra columns (remarks, serial numbers) are allowed
		}
		if _, dup := cols[name]; dup {
			return BulkResult{}, api.Errorf(api.ErrInvalid, "duplicate_column", "column %q appears twice in the header", h)
		}
		cols[name] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return BulkResult{}, api.Errorf(api.ErrInvalid, "missing_columns",
			"the header row lacks %s (Chinese names work too: 申请编号, 申请人, 手机号, 事项, 部门, 大厅, 窗口, 确认截止日期, 材料)", strings.Join(missing, ", "))
	}
	res := BulkResult{Rows: []BulkRow{}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		row := BulkRow{}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			row.Line = perr.StartLine
		case err == nil && len(rec) > 0:
			row.Line, _ = cr.FieldPos(0)
		}
		if len(res.Rows) >= MaxBulkRows {
			return res, api.Errorf(api.ErrTooLarge, "too_many_rows", "the CSV file has more than %d rows; split it", MaxBulkRows)
		}
		if err != nil {
			row.Result, row.Error = "error", &BodyError{Code: "invalid_csv", Message: err.Error()}
			res.Failed++
			res.Rows = append(res.Rows, row)
			continue
		}
		blank := true
		for _, f := range rec {
			blank = blank && strings.TrimSpace(f) == ""
		}
		if blank {
			continue
		}
		get := func(name string) string {
			if i, ok := cols[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		in := NoticeInput{ApplicationNumber: get("application_number"), ApplicantName: get("applicant_name"), Mobile: get("mobile"),
			Item: get("item"), Department: get("department"), Hall: get("hall"), Window: get("window"), ConfirmBy: get("confirm_by"),
			Documents: splitList(get("documents"))}
		row.ApplicationNumber = strings.TrimSpace(in.ApplicationNumber)
		v, created, err := s.CreateNotice(ctx, actor, in, false)
		switch {
		case err != nil:
			var ae *api.Error
			if !errors.As(err, &ae) {
				// The database, not the row: stop and say so; the rows done stay done.
				return res, fmt.Errorf("sms: bulk notices, line %d: %w", row.Line, err)
			}
			row.Result, row.Error = "error", &BodyError{Code: ae.Code, Message: ae.Message}
			res.Failed++
		case created:
			row.Result, row.NoticeID = "created", v.ID
			res.Created++
		default:
			row.Result, row.NoticeID = "existing", v.ID
			res.Existing++
		}
		if err == nil && v.Message != nil {
			row.MessageID = v.Message.ID
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// splitList splits a cell listing several items: 、；;，, and | all separate.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return strings.ContainsRune("、；;，,|\n", r)
	})
}
