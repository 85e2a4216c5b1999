package workday

import (
	"time"

	"github.com/jinjiang/residents/internal/civil"
)

// Official2026 is the State Council's 2026 public-holiday and make-up-day
// schedule (国务院办公厅关于2026年部分节假日安排的通知, 国办发明电〔2025〕7号),
// as override entries: every day off is listed as HOLIDAY (weekend days off
// included, which is harmless) and every make-up day as WORKDAY.
//
// Callers must not modify it; NewCalendar copies it.
var Official2026 = map[civil.Date]Kind{
	// 元旦: 1月1日（周四）至3日（周六）放假调休，共3天；1月4日（周日）上班。
	date(2026, time.January, 1): Holiday,
	date(2026, time.January, 2): Holiday,
	date(2026, time.January, 3): Holiday,
	date(2026, time.January, 4): Workday,

	// 春节: 2月15日（周日）至23日（周一）放假调休，共9天；
	// 2月14日（周六）、2月28日（周六）上班。
	date(2026, time.February, 14): Workday,
	date(2026, time.February, 15): Holiday,
	date(2026, time.February, 16): Holiday,
	date(2026, time.February, 17): Holiday,
	date(2026, time.February, 18): Holiday,
	date(2026, time.February, 19): Holiday,
	date(2026, time.February, 20): Holiday,
	date(2026, time.February, 21): Holiday,
	date(2026, time.February, 22): Holiday,
	date(2026, time.February, 23): Holiday,
	date(2026, time.February, 28): Workday,

	// 清明节: 4月4日（周六）至6日（周一）放假，共3天。
	date(2026, time.April, 4): Holiday,
	date(2026, time.April, 5): Holiday,
	date(2026, time.April, 6): Holiday,

	// 劳动节: 5月1日（周五）至5日（周二）放假调休，共5天；5月9日（周六）上班。
	date(2026, time.May, 1): Holiday,
	date(2026, time.May, 2): Holiday,
	date(2026, time.May, 3): Holiday,
	date(2026, time.May, 4): Holiday,
	date(2026, time.May, 5): Holiday,
	date(2026, time.May, 9): Workday,

	// 端午节: 6月19日（周五）至21日（周日）放假，共3天。
	date(2026, time.June, 19): Holiday,
	date(2026, time.June, 20): Holiday,
	date(2026, time.June, 21): Holiday,

	// 中秋节: 9月25日（周五）至27日（周日）放假，共3天。
	date(2026, time.September, 25): Holiday,
	date(2026, time.September, 26): Holiday,
	date(2026, time.September, 27): Holiday,

	// 国庆节: 10月1日（周四）至7日（周三）放假调休，共7天；
	// 9月20日（周日）、10月10日（周六）上班。
	date(2026, time.September, 20): Workday,
	date(2026, time.October, 1):    Holiday,
	date(2026, time.October, 2):    Holiday,
	date(2026, time.October, 3):    Holiday,
	date(2026, time.October, 4):    Holiday,
	date(2026, time.October, 5):    Holiday,
	date(2026, time.October, 6):    Holiday,
	date(2026, time.October, 7):    Holiday,
	date(2026, time.October, 10):   Workday,
}

// date abbreviates a keyed civil.Date literal.
func date(y int, m time.Month, d int) civil.Date {
	return civil.Date{Year: y, Month: m, Day: d}
}
