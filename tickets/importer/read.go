package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// rows reads a file's rows one at a time; Row is the number of the row Next returned,
// as a spreadsheet shows it (the header is row 1 when it is the first).
type rows interface {
	Next() ([]string, error) // io.EOF after the last row
	Row() int
	Close() error
}

// badRow is a row that cannot be read at all (a CSV quote left open); the reader goes
// on with the next.
type badRow struct{ err error }

func (e *badRow) Error() string { return e.err.Error() }

// openRows opens an .xlsx or .csv file by its extension.
func openRows(path string, m Mapping) (rows, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".xlsm":
		return openXLSX(path, m.Sheet)
	case ".csv", ".txt":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		r, err := newCSV(f, m.Encoding)
		if err != nil {
			f.Close()
			return nil, err
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s: not an .xlsx or .csv file (an old .xls must be saved as .xlsx first)", filepath.Base(path))
}

// xlsxRows streams a worksheet: excelize's row iterator reads the sheet's XML as it
// goes (spilled to a temporary file when large) instead of loading every cell.
type xlsxRows struct {
	f    *excelize.File
	it   *excelize.Rows
	row  int
	date bool
}

func openXLSX(path, sheet string) (*xlsxRows, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	if sheet == "" {
		sheet = f.GetSheetName(0)
	}
	if idx, err := f.GetSheetIndex(sheet); err != nil || idx < 0 {
		f.Close()
		return nil, fmt.Errorf("%s has no worksheet %q (it has %s)", filepath.Base(path), sheet, strings.Join(f.GetSheetList(), ", "))
	}
	it, err := f.Rows(sheet)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read worksheet %q: %w", sheet, err)
	}
	return &xlsxRows{f: f, it: it}, nil
}

func (x *xlsxRows) Next() ([]string, error) {
	if !x.it.Next() {
		if err := x.it.Error(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	x.row++
	// Raw values: a date is its serial number, read as a date by the field that wants
	// one, so a cell's display format (which varies by locale) does not matter.
	return x.it.Columns(excelize.Options{RawCellValue: true})
}

func (x *xlsxRows) Row() int { return x.row }

func (x *xlsxRows) Close() error { return errors.Join(x.it.Close(), x.f.Close()) }

// csvRows reads a CSV file in UTF-8 (with or without a byte-order mark) or GB18030,
// which old Windows exports (Excel's "CSV" in a Chinese locale) are written in.
type csvRows struct {
	c   io.Closer
	r   *csv.Reader
	row int
}

func newCSV(rc io.ReadCloser, encoding string) (*csvRows, error) {
	br := bufio.NewReaderSize(rc, 64<<10)
	head, err := br.Peek(64 << 10)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	var src io.Reader = br
	switch strings.ToLower(encoding) {
	case "gb18030", "gbk", "gb2312":
		src = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
	case "utf-8", "utf8":
		if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
			br.Discard(3)
		}
	default:
		switch {
		case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
			br.Discard(3)
		case !validUTF8Prefix(head):
			src = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
		}
	}
	r := csv.NewReader(src)
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	return &csvRows{c: rc, r: r}, nil
}

// validUTF8Prefix reports whether b is UTF-8 but for a character cut at its end.
func validUTF8Prefix(b []byte) bool {
	for cut := 0; cut < 4 && cut <= len(b); cut++ {
		if utf8.Valid(b[:len(b)-cut]) {
			return true
		}
	}
	return false
}

func (c *csvRows) Next() ([]string, error) {
	rec, err := c.r.Read()
	c.row++
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &badRow{err: pe.Err}
		}
		return nil, err
	}
	return rec, nil
}

func (c *csvRows) Row() int { return c.row }

func (c *csvRows) Close() error { return c.c.Close() }
