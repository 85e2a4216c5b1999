package resident

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/pii"
	"github.com/jinjiang/residents/internal/sheet"
)

// importFixture is a registry without a database: readRow needs only the
// keys, the clock and a unit directory.
func importFixture(t testing.TB) (*Service, *unitDirectory, layout) {
	keys, err := pii.NewKeyring([]pii.Key{{ID: "k1", Secret: []byte(strings.Repeat("k", 32))}}, []byte(strings.Repeat("i", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{keys: keys, now: func() time.Time { return time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) }}
	comm := uuid.New()
	units := newUnitDirectory([]importUnit{
		{ID: comm, Kind: "COMMUNITY", Code: "510104020001", Name: "和平街社区", Path: "/510104/510104020/510104020001/"},
		{ID: uuid.New(), Kind: "GRID", Code: "51010402000101", Name: "和平街社区第1网格", Path: "/510104/510104020/510104020001/51010402000101/", ParentID: &comm},
	})
	l, _ := readLayout(ImportColumns)
	return s, units, l
}

// FuzzReadRow: any row either fails with at least one ERROR naming a
// column of the file, or is a resident the registry would store: a valid
// name, an 18-character ID number encrypted and indexed, a place. A
// message never repeats the ID number.
func FuzzReadRow(f *testing.F) {
	f.Add("张三", "11010519491231002X", "女", "1949-12-31", "13800138000", "和平街社区", "第1网格", "独居、低保", "轻度失能")
	f.Add("李四", "110105491231002", "", "", "", "510104020001", "", "", "")
	f.Add("", "1.10105E+17", "x", "yesterday", "12", "火星", "9", "富裕", "很好")
	s, units, l := importFixture(f)
	f.Fuzz(func(t *testing.T, name, id, gender, birth, phone, comm, grid, statuses, care string) {
		cells := []string{name, id, gender, birth, phone, "地址", comm, grid, statuses, care}
		c := s.readRow(l, sheet.Row{Number: 7, Cells: cells}, units, func(string) bool { return true }, s.now())
		for _, p := range c.problems {
			if p.Row != 7 || p.Column == "" || !strings.HasSuffix(p.Cell, "7") || p.Message == "" {
				t.Fatalf("problem %+v", p)
			}
			if len(id) >= 6 && strings.Contains(p.Message, id) {
				t.Fatalf("message repeats the ID number: %q", p.Message)
			}
		}
		if c.failed() {
			return
		}
		if !validName(c.res.Name) || len(c.idNumber) != 18 || c.res.IDNumberEnc == "" || len(c.res.IDNumberBidx) == 0 ||
			c.res.OrgPath == "" || len(c.res.NameTerms) == 0 {
			t.Fatalf("accepted row stored as %+v", c.res)
		}
	})
}

func TestReadRowChecks(t *testing.T) {
	s, units, l := importFixture(t)
	c := s.readRow(l, sheet.Row{Number: 2, Cells: []string{"张三", "110105491231002", "女", "1949/12/31", "", "", "和平街社区", "第1网格", "", ""}},
		units, func(string) bool { return true }, s.now())
	if c.failed() || c.idNumber != "11010519491231002X" || len(c.problems) != 1 || c.problems[0].Code != ImportIDNumberUpgraded ||
		c.problems[0].Cell != "B2" || c.problems[0].Message != "15 位身份证号码已自动升级为 18 位" {
		t.Fatalf("15-digit row: %+v", c)
	}
	c = s.readRow(l, sheet.Row{Number: 3, Cells: []string{"张三", "11010519491231002X", "", "", "", "", "和平街社区", "", "", ""}},
		units, func(string) bool { return false }, s.now())
	if !c.failed() || c.problems[0].Code != ImportOutOfScope || c.problems[0].Column != ColCommunity {
		t.Fatalf("out of scope: %+v", c.problems)
	}
}
