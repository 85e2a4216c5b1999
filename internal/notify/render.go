package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// message is what a notification says, in the three fields every template
// of this service has (WeChat's thing1 / time2 / thing3 keys; the SMS
// gateway's title / time / note parameters), and the mini-program page it
// opens.
type message struct {
	title, at, note, page string
}

var titles = map[Kind]string{
	WechatBindingAdded:             "您的居民档案新绑定了一个微信账号",
	ApplicationAccepted:            "您的申请已受理",
	ApplicationSupplementRequested: "您的申请需要补正材料",
	ApplicationDecided:             "您的申请已有审批结果",
	ApplicationCompleted:           "您的申请已办结",
	VouchersIssued:                 "本月养老服务券已发放",
	VouchersExpiring:               "您的养老服务券将在7天内到期",
	RedemptionReceipt:              "养老服务券消费提醒",
	AlarmReceived:                  "长者通收到紧急呼叫",
	AlarmDispatched:                "长者通已派员处置",
	AlarmClosed:                    "长者通呼叫已处理完毕",
	VisitCode:                      "上门服务确认码",
	WelfareCheckMissed:             "关爱回访连续未接通，社区已安排上门",
	ResidentDeceased:               "居民档案已登记死亡，相关服务已停止",
	ResidentMovedOut:               "居民档案已登记迁出，相关服务已停止",
	ResidentDeathUndone:            "误报的死亡登记已撤销",
}

var pages = map[Kind]string{
	ApplicationAccepted: "pages/applications/index", ApplicationSupplementRequested: "pages/applications/index",
	ApplicationDecided: "pages/applications/index", ApplicationCompleted: "pages/applications/index",
	VouchersIssued: "pages/vouchers/index", VouchersExpiring: "pages/vouchers/index", RedemptionReceipt: "pages/vouchers/index",
	AlarmReceived: "pages/alarms/index", AlarmDispatched: "pages/alarms/index", AlarmClosed: "pages/alarms/index",
	WechatBindingAdded: "pages/account/index", WelfareCheckMissed: "pages/alarms/index",
	ResidentDeceased: "pages/account/index", ResidentMovedOut: "pages/account/index", ResidentDeathUndone: "pages/account/index",
}

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}()

// render builds the message of kind from its payload.
func render(kind Kind, p map[string]any) message {
	m := message{title: titles[kind], page: pages[kind]}
	for _, k := range []string{"at", "boundAt", "expiresOn", "expiresAt", "date"} {
		if s, ok := p[k].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				m.at = t.In(shanghai).Format("2006-01-02 15:04")
			} else {
				m.at = s
			}
			break
		}
	}
	str := func(k string) string { s, _ := p[k].(string); return s }
	switch kind {
	case ApplicationSupplementRequested:
		if l, ok := p["missing"].([]any); ok {
			parts := make([]string, 0, len(l))
			for _, x := range l {
				if s, ok := x.(string); ok {
					parts = append(parts, s)
				}
			}
			m.note = "请补充：" + strings.Join(parts, "、")
		}
	case ApplicationDecided:
		if str("outcome") == "APPROVED" {
			m.note = "审批通过"
		} else {
			m.note = "审批未通过"
		}
	case VisitCode:
		// The elder reads the code to the worker only when the visit was
		// done: the message says so.
		if c := str("code"); c != "" {
			m.note = "确认码" + c + ", 5分钟内有效; 服务已完成再告诉护理员"
		} else {
			m.note = "确认码已发送到本人手机"
		}
	case RedemptionReceipt, VouchersIssued, VouchersExpiring:
		for _, k := range []string{"amountFen", "balanceFen"} {
			if f, ok := p[k].(float64); ok {
				m.note = fmt.Sprintf("金额 %.2f 元", f/100)
				break
			}
		}
	}
	if m.note == "" {
		m.note = str("item")
	}
	if m.at == "" {
		m.at = "-"
	}
	return m
}

// limit cuts s to n characters (WeChat's thing values take 20).
func limit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (m message) wechatData() map[string]string {
	d := map[string]string{"thing1": limit(m.title, 20), "time2": m.at}
	if m.note != "" {
		d["thing3"] = limit(m.note, 20)
	}
	return d
}

func (m message) smsParams() map[string]string {
	return map[string]string{"title": m.title, "time": m.at, "note": m.note}
}
