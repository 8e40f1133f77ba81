package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/tickets/importer"
)

func (c *cli) importTicketsCommand() *cobra.Command {
	var mappingFile, source, sheet, encoding, reportFile string
	var columns []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "tickets FILE.xlsx|FILE.csv",
		Short: "Import tickets from the previous platform's export, with their history",
		Long: `Import tickets from the previous platform's export (.xlsx, or .csv in UTF-8 or GB18030).

Columns are found by their usual Chinese headers (工单编号, 来电号码, 姓名, 诉求内容, 诉求类别,
受理时间, 承办单位, 派单时间, 回复时间, 办结时间, 状态, 满意度 …); --mapping names a YAML file
that maps fields to headers and the file's words (departments, categories, statuses,
channels, satisfaction) to this platform's, and --column field=HEADER does the same for one
field. Each ticket keeps its original times as imported timeline events and counts in the
figures of the period it was registered in.

--dry-run reads the whole file and prints every row it would refuse (row number, column,
reason) and writes nothing. Without it the good rows are imported and the refused ones
printed. A re-run with the same --source skips the rows already imported, so fix the
refused rows and run again. Exits 1 when any row was refused.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var m importer.Mapping
			if mappingFile != "" {
				var err error
				if m, err = importer.ReadMapping(mappingFile); err != nil {
					return err
				}
			}
			if source != "" {
				m.Source = source
			}
			if sheet != "" {
				m.Sheet = sheet
			}
			if encoding != "" {
				m.Encoding = encoding
			}
			for _, c := range columns {
				f, h, ok := strings.Cut(c, "=")
				if !ok || strings.TrimSpace(f) == "" || strings.TrimSpace(h) == "" {
					return usageErrorf("--column %q: write it as field=HEADER, e.g. --column ref=受理编号", c)
				}
				if m.Columns == nil {
					m.Columns = map[importer.Field]string{}
				}
				m.Columns[importer.Field(strings.TrimSpace(f))] = strings.TrimSpace(h)
			}
			if strings.TrimSpace(m.Source) == "" {
				return usageErrorf("name the previous platform with --source (or source: in the mapping): re-runs with the same source skip what was imported")
			}
			return c.withDomains(cmd, func(ctx context.Context, log *slog.Logger, d *domains) error {
				return c.importTickets(ctx, log, d, args[0], m, dryRun, reportFile)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&mappingFile, "mapping", "", "YAML mapping of columns and words (see README, Operations)")
	f.StringVar(&source, "source", "", "name of the previous platform; references are unique per source")
	f.StringArrayVar(&columns, "column", nil, "field=HEADER: the column a field is read from (repeatable)")
	f.StringVar(&sheet, "sheet", "", "worksheet of an .xlsx file (default: the first)")
	f.StringVar(&encoding, "encoding", "", "encoding of a .csv file: auto (default), utf-8 or gb18030")
	f.BoolVar(&dryRun, "dry-run", false, "check every row and report the refused ones; write nothing")
	f.StringVar(&reportFile, "report", "", "also write the refused rows to this CSV file (row, column, code, reason)")
	return cmd
}

func (c *cli) importTickets(ctx context.Context, log *slog.Logger, d *domains, path string, m importer.Mapping, dryRun bool, reportFile string) error {
	im := importer.New(importer.Options{Store: d.tickets, Location: d.cfg.Location(), Log: log,
		Progress: func(rows int) {
			if rows%10000 < 1000 {
				log.Info("import: rows read", "rows", rows)
			}
		}})
	rep, err := im.Run(ctx, path, m, dryRun)
	if rep != nil {
		for _, r := range rep.Refused {
			fmt.Fprintln(c.stdout, r.String())
		}
		if reportFile != "" {
			if werr := writeRefusals(reportFile, rep.Refused); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	prefix := ""
	if dryRun {
		prefix = "dry run: "
	}
	fmt.Fprintln(c.stdout, prefix+rep.Summary())
	if len(rep.Refused) > 0 {
		return fmt.Errorf("%d rows refused; fix them and run again (imported rows are skipped)", len(rep.Refused))
	}
	return nil
}

// writeRefusals writes the refused rows as CSV with a byte-order mark, so that Excel
// opens the Chinese columns right.
func writeRefusals(path string, rs []importer.Refusal) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("refusal report: %w", err)
	}
	if _, err := f.WriteString("\ufeff"); err != nil {
		f.Close()
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"row", "column", "code", "reason"})
	for _, r := range rs {
		w.Write([]string{strconv.Itoa(r.Row), r.Column, r.Code, r.Reason})
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}
