package application

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/problem"
)

// NoticeKind is a written notice of the 行政许可法.
type NoticeKind string

// The notices.
const (
	// AcceptanceNotice is the 受理通知书 (§32), also for acceptance by law.
	AcceptanceNotice NoticeKind = "ACCEPTANCE"
	// SupplementNotice is the 补正告知书: the one complete list (§32).
	SupplementNoticeKind NoticeKind = "SUPPLEMENT"
	// RejectionNotice is the 不予受理决定书 with its reasons (§32).
	RejectionNotice NoticeKind = "REJECTION"
	// DecisionNotice is the 准予 or 不予行政许可决定书 (§38).
	DecisionNotice NoticeKind = "DECISION"
)

// ParseNoticeKind reads a kind as the download path names it (lower case).
func ParseNoticeKind(s string) (NoticeKind, bool) {
	k := NoticeKind(strings.ToUpper(s))
	switch k {
	case AcceptanceNotice, SupplementNoticeKind, RejectionNotice, DecisionNotice:
		return k, true
	}
	return "", false
}

// ErrNoFont means the notice font is not installed (NOTICE_FONT_PATH).
var ErrNoFont = fmt.Errorf("application: the notice font is missing: %w", problem.ErrUnavailable)

// Notices lists the notices an application has at its stage.
func Notices(a *Application) []NoticeKind {
	out := []NoticeKind{}
	if a.SupplementNotice != nil {
		out = append(out, SupplementNoticeKind)
	}
	if a.AcceptedAt != nil {
		out = append(out, AcceptanceNotice)
	}
	switch a.Status {
	case Rejected:
		out = append(out, RejectionNotice)
	case Approved, Completed, Denied:
		out = append(out, DecisionNotice)
	}
	return out
}

// SetNoticeFont sets the TrueType font file notices are set in.
func (s *Service) SetNoticeFont(path string) { s.noticeFont = path }

// SetApplicantNamer sets how a notice names the applicant (the resident
// domain, asked with the downloader's own rights); nil leaves it unnamed.
func (s *Service) SetApplicantNamer(f func(ctx context.Context, id uuid.UUID) string) { s.namer = f }

// font returns the notice font's bytes, read once.
func (s *Service) font() ([]byte, error) {
	s.fontOnce.Do(func() {
		b, err := os.ReadFile(s.noticeFont)
		if err != nil {
			s.fontErr = fmt.Errorf("%w (%s: %v)", ErrNoFont, s.noticeFont, err)
			return
		}
		s.fontBytes = b
	})
	return s.fontBytes, s.fontErr
}

// Notice renders one written notice of an application as a PDF for a
// viewer who may read the application (the applicant, staff in scope),
// and audits the download. nil, nil when there is no such application
// for the viewer; NOT_FOUND when the application has no such notice yet.
func (s *Service) Notice(ctx context.Context, id uuid.UUID, kind NoticeKind) ([]byte, string, error) {
	a, err := s.Get(ctx, id)
	if err != nil || a == nil {
		return nil, "", err
	}
	has := false
	for _, k := range Notices(a) {
		has = has || k == kind
	}
	if !has {
		return nil, "", problem.New(problem.NotFound, "该申请目前没有这份文书", "kind")
	}
	font, err := s.font()
	if err != nil {
		return nil, "", err
	}
	items, err := s.ItemsByIDs(ctx, []uuid.UUID{a.ItemID})
	if err != nil {
		return nil, "", err
	}
	it := items[a.ItemID]
	unit, err := s.org.Unit(ctx, a.HandlingUnitID)
	if err != nil {
		return nil, "", err
	}
	evs, err := s.EventsOf(ctx, []uuid.UUID{a.ID})
	if err != nil {
		return nil, "", err
	}
	name := "申请人"
	if s.namer != nil {
		if n := s.namer(ctx, a.ApplicantID); n != "" {
			name = n
		}
	}
	doc := noticeDoc{a: a, item: it, unit: unit.Name, applicant: name, events: evs[a.ID], today: s.today()}
	pdf, err := doc.render(kind, font)
	if err != nil {
		return nil, "", err
	}
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		return audit.Record(ctx, tx, audit.ActionNotices, audit.EntityApplication, &a.ID, map[string]any{"kind": string(kind), "number": a.Number})
	})
	if err != nil {
		return nil, "", database.Classify(err)
	}
	return pdf, fmt.Sprintf("%s-%s.pdf", a.Number, strings.ToLower(string(kind))), nil
}

// noticeDoc is what a notice says.
type noticeDoc struct {
	a         *Application
	item      *Item
	unit      string
	applicant string
	events    []*Event
	today     civil.Date
}

// lastNote is the note of the last event of action, "" when none.
func (d noticeDoc) lastNote(action Action) string {
	for i := len(d.events) - 1; i >= 0; i-- {
		if e := d.events[i]; e.Action == action && e.Note != nil {
			return *e.Note
		}
	}
	return ""
}

func dateOf(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return chineseDate(civil.DateOf(*t))
}

func chineseDate(d civil.Date) string {
	return fmt.Sprintf("%d年%d月%d日", d.Year, int(d.Month), d.Day)
}

// body returns a notice's title and paragraphs.
func (d noticeDoc) body(kind NoticeKind) (string, []string) {
	a := d.a
	head := []string{
		fmt.Sprintf("申请编号：%s", a.Number),
		fmt.Sprintf("申请人：%s", d.applicant),
		fmt.Sprintf("申请事项：%s", d.item.Name),
		fmt.Sprintf("收到申请材料日期：%s", dateOf(&a.ReceivedAt)),
	}
	switch kind {
	case AcceptanceNotice:
		p := append(head, fmt.Sprintf("受理日期：%s", dateOf(a.AcceptedAt)))
		if a.AcceptedByLaw {
			p = append(p, "本机关未在收到申请材料之日起五个工作日内一次告知需要补正的全部内容，依照《中华人民共和国行政许可法》第三十二条，自收到申请材料之日起即为受理。")
		} else {
			p = append(p, "经审查，你（单位）提交的申请材料齐全、符合法定形式，依照《中华人民共和国行政许可法》第三十二条，决定予以受理。")
		}
		if a.Deadline != nil {
			line := fmt.Sprintf("法定办理时限：%d个工作日，至%s", d.item.TimeLimitWorkingDays, chineseDate(*a.Deadline))
			if a.DeadlineProvisional {
				line += "（跨越尚未公布节假日安排的年度，按周末计算，公布后重新核定）"
			}
			p = append(p, line+"。")
		}
		if a.PromisedDeadline != nil && d.item.PromisedLimitWorkingDays != nil {
			p = append(p, fmt.Sprintf("承诺办理时限：%d个工作日，至%s。", *d.item.PromisedLimitWorkingDays, chineseDate(*a.PromisedDeadline)))
		}
		if a.Extended && a.ExtensionReason != nil {
			p = append(p, fmt.Sprintf("办理期限已延长%d个工作日，理由：%s。", d.item.ExtensionWorkingDays, *a.ExtensionReason))
		}
		return "受理通知书", p
	case SupplementNoticeKind:
		p := append(head, "经审查，你（单位）提交的申请材料不齐全或者不符合法定形式。依照《中华人民共和国行政许可法》第三十二条，现一次告知需要补正的全部内容如下：")
		for i, x := range a.SupplementNotice {
			p = append(p, fmt.Sprintf("%d. %s：%s", i+1, x.Material, x.Reason))
		}
		p = append(p, "请按上列内容补正后重新提交；补齐后本机关将依法受理。")
		return "补正材料告知书", p
	case RejectionNotice:
		return "不予受理决定书", append(head,
			"经审查，依照《中华人民共和国行政许可法》第三十二条，决定不予受理。",
			"理由："+d.lastNote(Reject),
			"如不服本决定，可以依法申请行政复议或者提起行政诉讼。")
	}
	if a.Status == Denied {
		return "不予行政许可决定书", append(head,
			"经审查，依照《中华人民共和国行政许可法》第三十八条第二款，决定不予批准。",
			"理由："+d.lastNote(Deny),
			"如不服本决定，可以自收到本决定书之日起六十日内依法申请行政复议，或者六个月内依法提起行政诉讼。")
	}
	return "准予行政许可决定书", append(head,
		"经审查，你（单位）的申请符合法定条件、标准，依照《中华人民共和国行政许可法》第三十八条第一款，决定准予批准。")
}

// render sets a notice on one A4 page (more when the list is long).
func (d noticeDoc) render(kind NoticeKind, font []byte) ([]byte, error) {
	title, paras := d.body(kind)
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(title+" "+d.a.Number, true)
	pdf.SetCreator(d.unit, true)
	pdf.AddUTF8FontFromBytes("cjk", "", font)
	pdf.SetMargins(25, 25, 25)
	pdf.AddPage()
	pdf.SetFont("cjk", "", 20)
	pdf.CellFormat(0, 14, title, "", 1, "C", false, 0, "")
	pdf.Ln(4)
	pdf.SetFont("cjk", "", 12)
	for _, p := range paras {
		pdf.MultiCell(0, 8, p, "", "L", false)
		pdf.Ln(1)
	}
	pdf.Ln(12)
	pdf.CellFormat(0, 8, d.unit+"（印章）", "", 1, "R", false, 0, "")
	pdf.CellFormat(0, 8, chineseDate(d.today), "", 1, "R", false, 0, "")
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("application: notice pdf: %w", err)
	}
	return buf.Bytes(), nil
}
