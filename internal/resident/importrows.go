package resident

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/sheet"
)

// The columns of an import file, by their Chinese headers (the template's
// first row). 姓名, 身份证号 and 社区 are required; the others may be left
// out or left empty. 性别 and 出生日期 are only checked against the ID
// number, which decides them. 状态 and 能力等级 are the initial facts of a
// new resident; for one already registered they are compared, never
// written (FACT_CHANGE_NEEDS_REVIEW).
const (
	ColName      = "姓名"
	ColIDNumber  = "身份证号"
	ColGender    = "性别"
	ColBirthDate = "出生日期"
	ColPhone     = "联系电话"
	ColAddress   = "住址"
	ColCommunity = "社区"
	ColGrid      = "网格"
	ColStatuses  = "状态"
	ColCareLevel = "能力等级"
)

// ImportColumns is the template's header, in order.
var ImportColumns = []string{ColName, ColIDNumber, ColGender, ColBirthDate, ColPhone, ColAddress, ColCommunity, ColGrid, ColStatuses, ColCareLevel}

var requiredColumns = []string{ColName, ColIDNumber, ColCommunity}

// headerAliases are other headers counters' own sheets use for a column.
var headerAliases = map[string]string{
	"身份证号码": ColIDNumber, "公民身份号码": ColIDNumber, "证件号码": ColIDNumber,
	"电话": ColPhone, "手机号": ColPhone, "手机号码": ColPhone, "联系方式": ColPhone,
	"地址": ColAddress, "居住地址": ColAddress, "现住址": ColAddress,
	"所属社区": ColCommunity, "所属网格": ColGrid,
	"特殊状态": ColStatuses, "照护等级": ColCareLevel, "失能等级": ColCareLevel,
}

// StatusLabels and CareLevelLabels are the Chinese names counters write
// (the schema's enum descriptions).
var (
	StatusLabels    = map[Status]string{LowIncome: "低保", ExtremePoverty: "特困", LivingAlone: "独居", EmptyNest: "空巢", BereavedParent: "失独"}
	CareLevelLabels = map[CareLevel]string{Intact: "能力完好", Mild: "轻度失能", Moderate: "中度失能", Severe: "重度失能", Total: "完全失能"}
)

// ImportCode is the code of one problem of an imported row.
type ImportCode string

// The problems a row can have. Each is an ERROR (the row is not applied)
// or a NOTICE (it is, and the notice says what to look at).
const (
	ImportMissingValue     ImportCode = "MISSING_VALUE"
	ImportInvalidName      ImportCode = "INVALID_NAME"
	ImportInvalidIDNumber  ImportCode = "INVALID_ID_NUMBER"
	ImportIDNumberUpgraded ImportCode = "ID_NUMBER_UPGRADED"
	ImportInvalidGender    ImportCode = "INVALID_GENDER"
	ImportGenderMismatch   ImportCode = "GENDER_MISMATCH"
	ImportInvalidDate      ImportCode = "INVALID_DATE"
	ImportBirthMismatch    ImportCode = "BIRTH_DATE_MISMATCH"
	ImportInvalidPhone     ImportCode = "INVALID_PHONE"
	ImportUnknownCommunity ImportCode = "UNKNOWN_COMMUNITY"
	ImportAmbiguous        ImportCode = "AMBIGUOUS_COMMUNITY"
	ImportUnknownGrid      ImportCode = "UNKNOWN_GRID"
	ImportInvalidStatus    ImportCode = "INVALID_STATUS"
	ImportInvalidCareLevel ImportCode = "INVALID_CARE_LEVEL"
	ImportDuplicateInFile  ImportCode = "DUPLICATE_IN_FILE"
	ImportOutOfScope       ImportCode = "OUT_OF_JURISDICTION"
	ImportNameMismatch     ImportCode = "NAME_MISMATCH"
	ImportInactive         ImportCode = "RESIDENT_INACTIVE"
	ImportFactChange       ImportCode = "FACT_CHANGE_NEEDS_REVIEW"
	ImportUnknownColumn    ImportCode = "UNKNOWN_COLUMN"
	ImportMissingColumn    ImportCode = "MISSING_COLUMN"
	ImportDuplicateColumn  ImportCode = "DUPLICATE_COLUMN"
)

// Severity says whether a problem stops its row.
type Severity string

// Severities.
const (
	SeverityError  Severity = "ERROR"
	SeverityNotice Severity = "NOTICE"
)

// RowProblem is one problem of one row: where (the file's row number, the
// column's header, the cell), what (code) and a message in Chinese.
type RowProblem struct {
	Row      int
	Column   string
	Cell     string
	Code     ImportCode
	Severity Severity
	Message  string
}

// rowProblem builds a problem; msg is English and is stored in Chinese
// through the catalog (internal/problem), so that both languages exist.
func rowProblem(row int, col *column, code ImportCode, msg string) RowProblem {
	sev := SeverityError
	if code == ImportIDNumberUpgraded || code == ImportFactChange || code == ImportUnknownColumn {
		sev = SeverityNotice
	}
	p := RowProblem{Row: row, Code: code, Severity: sev, Message: msg}
	if zh, ok := problem.Localize(problem.Chinese, msg); ok {
		p.Message = zh
	}
	if col != nil {
		p.Column, p.Cell = col.header, fmt.Sprintf("%s%d", col.letter, row)
	}
	return p
}

// column is where one of ImportColumns sits in the file.
type column struct {
	header string // as the file has it
	letter string
	index  int
}

// layout maps ImportColumns to the file's columns.
type layout map[string]*column

func (l layout) cell(cells []string, name string) string {
	if c := l[name]; c != nil && c.index < len(cells) {
		return cells[c.index]
	}
	return ""
}

// letters are each column's header and letter, for the run's problems.
func (l layout) letters() map[string][2]string {
	out := map[string][2]string{}
	for k, c := range l {
		out[k] = [2]string{c.header, c.letter}
	}
	return out
}

func layoutFromLetters(m map[string][2]string) layout {
	l := layout{}
	for k, v := range m {
		l[k] = &column{header: v[0], letter: v[1]}
	}
	return l
}

// readLayout maps the header row. A missing required column, or one given
// twice, refuses the whole file; a column the import does not know is a
// notice (it is ignored).
func readLayout(header []string) (layout, []RowProblem) {
	l := layout{}
	var probs []RowProblem
	for i, h := range header {
		name := strings.TrimSpace(h)
		if a, ok := headerAliases[name]; ok {
			name = a
		}
		col := &column{header: h, letter: sheet.Column(i), index: i}
		known := false
		for _, c := range ImportColumns {
			known = known || c == name
		}
		switch {
		case h == "":
		case !known:
			probs = append(probs, rowProblem(1, col, ImportUnknownColumn, fmt.Sprintf("column %s is not imported", h)))
		case l[name] != nil:
			probs = append(probs, rowProblem(1, col, ImportDuplicateColumn, fmt.Sprintf("column %s appears twice", name)))
		default:
			l[name] = col
		}
	}
	for _, c := range requiredColumns {
		if l[c] == nil {
			probs = append(probs, rowProblem(1, nil, ImportMissingColumn, fmt.Sprintf("the file has no column %s", c)))
		}
	}
	return l, probs
}

// fatal reports whether problems refuse the whole file.
func fatal(probs []RowProblem) bool {
	for _, p := range probs {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// importUnit is an org unit as the import finds it by code or name.
type importUnit struct {
	ID       uuid.UUID
	Kind     string
	Code     string
	Name     string
	Path     string
	ParentID *uuid.UUID
	// RetiredAt is set for a retired unit, which takes no new residents.
	RetiredAt *time.Time
}

// unitDirectory finds communities and grids by what a file names them by.
type unitDirectory struct {
	communities map[string][]*importUnit // by code and by name
	grids       map[uuid.UUID][]*importUnit
}

func newUnitDirectory(units []importUnit) *unitDirectory {
	d := &unitDirectory{communities: map[string][]*importUnit{}, grids: map[uuid.UUID][]*importUnit{}}
	for i := range units {
		u := &units[i]
		switch {
		case u.Kind == "COMMUNITY":
			d.communities[u.Code] = append(d.communities[u.Code], u)
			if u.Name != u.Code {
				d.communities[u.Name] = append(d.communities[u.Name], u)
			}
		case u.Kind == "GRID" && u.ParentID != nil:
			d.grids[*u.ParentID] = append(d.grids[*u.ParentID], u)
		}
	}
	return d
}

// community finds a community by code or name; of two of one name, the
// one inside the uploader's jurisdiction.
func (d *unitDirectory) community(v string, inScope func(path string) bool) (*importUnit, ImportCode) {
	found := d.communities[v]
	if len(found) > 1 {
		var mine []*importUnit
		for _, u := range found {
			if inScope(u.Path) {
				mine = append(mine, u)
			}
		}
		if len(mine) == 1 {
			return mine[0], ""
		}
		return nil, ImportAmbiguous
	}
	if len(found) == 0 {
		return nil, ImportUnknownCommunity
	}
	return found[0], ""
}

// grid finds a grid of community c by code, by name, or by its name
// without the community's ("第1网格" for "和平街社区第1网格").
func (d *unitDirectory) grid(c *importUnit, v string) *importUnit {
	for _, g := range d.grids[c.ID] {
		if g.Code == v || g.Name == v || g.Name == c.Name+v {
			return g
		}
	}
	return nil
}

// candidate is one row of the file, checked: the resident it describes,
// encrypted as the registry stores it.
type candidate struct {
	row      int
	res      residentRow
	idNumber string // canonical, for the in-file duplicate check only
	// phoneGiven and addressGiven: the cell was not empty.
	phoneGiven, addressGiven bool
	// statuses and careLevel are nil when their cells were empty.
	statuses  pq.StringArray
	careLevel *string
	problems  []RowProblem
}

func (c *candidate) failed() bool { return fatal(c.problems) }

// readRow checks one row: every problem it has on its own (the database
// and the rest of the file are asked later).
func (s *Service) readRow(l layout, r sheet.Row, units *unitDirectory, inScope func(string) bool, now time.Time) *candidate {
	c := &candidate{row: r.Number}
	flag := func(col string, code ImportCode, msg string) {
		c.problems = append(c.problems, rowProblem(r.Number, l[col], code, msg))
	}
	get := func(col string) string { return l.cell(r.Cells, col) }

	name := get(ColName)
	switch {
	case name == "":
		flag(ColName, ImportMissingValue, fmt.Sprintf("%s must not be empty", ColName))
	case !validName(name):
		flag(ColName, ImportInvalidName, "the name must be 1 to 64 characters")
	}
	c.res = residentRow{Name: name, CareLevel: string(Intact)}

	raw := get(ColIDNumber)
	var num idnumber.Number
	if raw == "" {
		flag(ColIDNumber, ImportMissingValue, fmt.Sprintf("%s must not be empty", ColIDNumber))
	} else {
		n, upgraded, err := idnumber.ParseAny(raw, now)
		switch {
		case err != nil && strings.ContainsAny(raw, "Ee") && strings.Contains(raw, "+"):
			flag(ColIDNumber, ImportInvalidIDNumber, "the ID number was stored as a number and lost its last digits; format the column as text")
		case err != nil:
			flag(ColIDNumber, ImportInvalidIDNumber, "not a valid resident identity number: "+reasonOf(err))
		default:
			num = n
			if upgraded {
				flag(ColIDNumber, ImportIDNumberUpgraded, "the 15-digit ID number was converted to 18 digits")
			}
		}
	}
	if num.String() != "" {
		c.idNumber = num.String()
		if err := s.setIDNumber(&c.res, num); err != nil {
			flag(ColIDNumber, ImportInvalidIDNumber, "the ID number could not be stored")
		}
		s.checkDerived(c, l, r, num)
	}

	if p := get(ColPhone); p != "" {
		c.phoneGiven = true
		if ue := s.setPhone(&c.res, &p); ue != nil {
			flag(ColPhone, ImportInvalidPhone, "not a valid phone number")
		}
	}
	if a := get(ColAddress); a != "" {
		c.addressGiven, c.res.Address = true, &a
	}
	s.readPlace(c, l, r, units, inScope)
	readFacts(c, l, r)
	if !c.failed() {
		c.res.NameTerms = SearchTerms(name)
	}
	return c
}

// checkDerived compares the gender and birth date cells, when given, with
// what the ID number says.
func (s *Service) checkDerived(c *candidate, l layout, r sheet.Row, num idnumber.Number) {
	flag := func(col string, code ImportCode, msg string) {
		c.problems = append(c.problems, rowProblem(r.Number, l[col], code, msg))
	}
	if g := l.cell(r.Cells, ColGender); g != "" {
		want := genderOf(num)
		switch strings.ToUpper(g) {
		case "男", "男性", "M", "MALE":
			if want != string(Male) {
				flag(ColGender, ImportGenderMismatch, "the gender does not match the ID number")
			}
		case "女", "女性", "F", "FEMALE":
			if want != string(Female) {
				flag(ColGender, ImportGenderMismatch, "the gender does not match the ID number")
			}
		default:
			flag(ColGender, ImportInvalidGender, "the gender must be male or female")
		}
	}
	if d := l.cell(r.Cells, ColBirthDate); d != "" {
		y, m, day, ok := sheet.Date(d)
		b := num.BirthDate()
		switch {
		case !ok:
			flag(ColBirthDate, ImportInvalidDate, "the birth date must be a date such as 1950-01-31")
		case y != b.Year() || m != int(b.Month()) || day != b.Day():
			flag(ColBirthDate, ImportBirthMismatch, "the birth date does not match the ID number")
		}
	}
}

// readPlace finds the community and grid, inside the uploader's
// jurisdiction.
func (s *Service) readPlace(c *candidate, l layout, r sheet.Row, units *unitDirectory, inScope func(string) bool) {
	flag := func(col string, code ImportCode, msg string) {
		c.problems = append(c.problems, rowProblem(r.Number, l[col], code, msg))
	}
	v := l.cell(r.Cells, ColCommunity)
	if v == "" {
		flag(ColCommunity, ImportMissingValue, fmt.Sprintf("%s must not be empty", ColCommunity))
		return
	}
	comm, code := units.community(v, inScope)
	switch code {
	case ImportAmbiguous:
		flag(ColCommunity, code, fmt.Sprintf("several communities are named %s; give the community's code", v))
		return
	case ImportUnknownCommunity:
		flag(ColCommunity, code, fmt.Sprintf("no community %s in the district", v))
		return
	}
	c.res.CommunityID, c.res.OrgPath = comm.ID, comm.Path
	if g := l.cell(r.Cells, ColGrid); g != "" {
		grid := units.grid(comm, g)
		if grid == nil {
			flag(ColGrid, ImportUnknownGrid, fmt.Sprintf("%s has no grid %s", comm.Name, g))
			return
		}
		c.res.GridID, c.res.OrgPath = &grid.ID, grid.Path
	}
	if !inScope(c.res.OrgPath) {
		flag(ColCommunity, ImportOutOfScope, "the community is outside your jurisdiction")
	}
}

// readFacts reads the initial statuses and care level: Chinese labels or
// the API's codes, statuses separated by 、 , ; or spaces ("无" for none).
func readFacts(c *candidate, l layout, r sheet.Row) {
	flag := func(col string, code ImportCode, msg string) {
		c.problems = append(c.problems, rowProblem(r.Number, l[col], code, msg))
	}
	if v := l.cell(r.Cells, ColStatuses); v != "" {
		st := pq.StringArray{}
		seen := map[Status]bool{}
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("、,，;； /", r) }) {
			if tok == "无" {
				continue
			}
			x, ok := statusOf(tok)
			if !ok {
				flag(ColStatuses, ImportInvalidStatus, fmt.Sprintf("unknown status %s", tok))
				continue
			}
			if !seen[x] {
				seen[x] = true
				st = append(st, string(x))
			}
		}
		c.statuses = st
		c.res.Statuses = st
	}
	if c.res.Statuses == nil {
		c.res.Statuses = pq.StringArray{}
	}
	if v := l.cell(r.Cells, ColCareLevel); v != "" {
		cl, ok := careLevelOf(v)
		if !ok {
			flag(ColCareLevel, ImportInvalidCareLevel, fmt.Sprintf("unknown care level %s", v))
			return
		}
		s := string(cl)
		c.careLevel, c.res.CareLevel = &s, s
	}
}

func statusOf(tok string) (Status, bool) {
	for st, label := range StatusLabels {
		if tok == label || strings.EqualFold(tok, string(st)) {
			return st, true
		}
	}
	return "", false
}

func careLevelOf(v string) (CareLevel, bool) {
	for cl, label := range CareLevelLabels {
		if v == label || strings.EqualFold(v, string(cl)) {
			return cl, true
		}
	}
	return "", false
}

// markDuplicates makes every row whose ID number another row of the file
// has too an ERROR: which of them is right is the counter's call.
func markDuplicates(l layout, cands []*candidate) {
	first := map[string]*candidate{}
	for _, c := range cands {
		if c.idNumber == "" {
			continue
		}
		f, seen := first[c.idNumber]
		if !seen {
			first[c.idNumber] = c
			continue
		}
		c.problems = append(c.problems, rowProblem(c.row, l[ColIDNumber], ImportDuplicateInFile,
			fmt.Sprintf("the same ID number as row %d", f.row)))
		if !hasCode(f.problems, ImportDuplicateInFile) {
			f.problems = append(f.problems, rowProblem(f.row, l[ColIDNumber], ImportDuplicateInFile,
				fmt.Sprintf("the same ID number as row %d", c.row)))
		}
	}
}

func hasCode(ps []RowProblem, code ImportCode) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}
