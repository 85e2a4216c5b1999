// Package graph is the GraphQL layer: the schema under graph/schema, thin
// resolvers that call one domain service each, per-request dataloaders, and
// the error presenter. No business rules and no SQL live here.
package graph

import (
	"log/slog"
	"sync"

	"github.com/jinjiang/residents/internal/application"
	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/disability"
	"github.com/jinjiang/residents/internal/emergency"
	"github.com/jinjiang/residents/internal/homecare"
	"github.com/jinjiang/residents/internal/notify"
	"github.com/jinjiang/residents/internal/org"
	"github.com/jinjiang/residents/internal/proxy"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/voucher"
	"github.com/jinjiang/residents/internal/wechat"
)

// Resolver holds the domain services the resolvers call.
type Resolver struct {
	Log   *slog.Logger
	Auth  *auth.Service
	Org   *org.Service
	Audit *audit.Log

	Disability         *disability.Service
	Registry           *resident.Service
	Wechat             *wechat.Service
	Vouchers           *voucher.Service
	Emergency          *emergency.Service
	ApplicationService *application.Service
	Homecare           *homecare.Service
	// Proxies keeps family proxy links; Inbox is the notifications people read.
	ProxyLinks *proxy.Service
	Inbox      *notify.Inbox

	unitsOnce sync.Once
	units     *orgUnitCache
}
