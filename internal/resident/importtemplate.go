package resident

import (
	"strings"

	"github.com/jinjiang/residents/internal/sheet"
)

// ImportTemplate is the XLSX a counter fills in for POST
// /imports/residents: ImportColumns as the header (身份证号 and 联系电话
// formatted as text, so Excel keeps every digit), one example row, and a
// sheet 填写说明 of what each column takes.
func ImportTemplate() ([]byte, error) {
	statuses := make([]string, 0, len(StatusLabels))
	for _, st := range []Status{LowIncome, ExtremePoverty, LivingAlone, EmptyNest, BereavedParent} {
		statuses = append(statuses, StatusLabels[st])
	}
	levels := make([]string, 0, len(CareLevelLabels))
	for _, cl := range []CareLevel{Intact, Mild, Moderate, Severe, Total} {
		levels = append(levels, CareLevelLabels[cl])
	}
	return sheet.Template{
		Sheet:      "居民",
		Header:     ImportColumns,
		Text:       map[string]bool{ColIDNumber: true, ColPhone: true, ColBirthDate: true},
		Example:    [][]string{{"张三", "11010519491231002X", "女", "1949-12-31", "13800138000", "锦江区和平街1号", "和平街社区", "第1网格", "独居", "轻度失能"}},
		NotesSheet: "填写说明",
		Notes: []string{
			"第一行为表头，请勿修改；数据从第二行开始，示例行请删除。",
			"必填：姓名、身份证号、社区。身份证号为 18 位（末位可为 X）；15 位旧号码将自动升级为 18 位并给出提示。",
			"性别、出生日期可不填；填写时须与身份证号一致。出生日期格式如 1950-01-31。",
			"联系电话：手机号或带区号的固定电话。住址：可不填。",
			"社区：社区名称或编码；网格：网格名称（如“第1网格”）或编码，可不填。社区须在您的辖区内。",
			"状态（仅用于新登记的居民）：" + strings.Join(statuses, "、") + "，多个以顿号分隔，无则留空。",
			"能力等级（仅用于新登记的居民）：" + strings.Join(levels, "、") + "，留空为能力完好。",
			"已登记的居民（按身份证号识别）：只更新联系电话、住址、社区和网格，空白单元格不改原值；状态和能力等级不会被导入修改，与登记不一致时给出 FACT_CHANGE_NEEDS_REVIEW 提示，请另行提交审核变更。",
			"同一文件中身份证号重复的各行均不导入。建议先以 dryRun=true 检查，再正式导入。",
		},
	}.XLSX()
}
