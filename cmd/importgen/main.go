// Command importgen measures the bulk import of residents: it builds an
// XLSX of N new residents with valid, distinct ID numbers spread over the
// district's communities and grids, uploads it to a running server
// (POST /imports/residents, a dry run first unless -skip-dry), follows the
// import through GraphQL until its run has ended, and prints the time of
// each step. -out only writes the file.
//
//	go run ./cmd/importgen -rows 100000 -url http://127.0.0.1:8202 -password admin-dev-password
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/resident"
	"github.com/jinjiang/residents/internal/sheet"
)

func main() {
	rows := flag.Int("rows", 100000, "data rows")
	url := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	user := flag.String("user", "admin", "staff user")
	password := flag.String("password", "admin-dev-password", "password")
	out := flag.String("out", "", "write the XLSX here and stop")
	skipDry := flag.Bool("skip-dry", false, "commit without a dry run first")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (ID numbers)")
	flag.Parse()
	if err := run(*rows, *url, *user, *password, *out, *skipDry, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "importgen:", err)
		os.Exit(1)
	}
}

type place struct{ community, grid string }

func run(n int, base, user, password, out string, skipDry bool, seed uint64) error {
	var tok string
	places := []place{{"和平街社区", "第1网格"}}
	if out == "" {
		var err error
		if tok, err = login(base, user, password); err != nil {
			return err
		}
		if places, err = districtPlaces(base, tok); err != nil {
			return err
		}
	}
	start := time.Now()
	data, err := build(n, places, seed)
	if err != nil {
		return err
	}
	fmt.Printf("built %d rows: %d bytes in %v\n", n, len(data), time.Since(start).Round(time.Millisecond))
	if out != "" {
		return os.WriteFile(out, data, 0o600)
	}
	if !skipDry {
		t := time.Now()
		status, body, err := upload(base, tok, data, true)
		if err != nil {
			return err
		}
		fmt.Printf("dry run: HTTP %d in %v: %s\n", status, time.Since(t).Round(time.Millisecond), summary(body))
	}
	t := time.Now()
	status, body, err := upload(base, tok, data, false)
	if err != nil {
		return err
	}
	fmt.Printf("commit upload: HTTP %d in %v: %s\n", status, time.Since(t).Round(time.Millisecond), summary(body))
	imp, _ := body["import"].(map[string]any)
	id, _ := imp["id"].(string)
	if id == "" {
		return fmt.Errorf("no import id")
	}
	for {
		r, err := gql(base, tok, `query($id:ID!){node(id:$id){... on ResidentImport{status rowsDone inserted updated unchanged failed notices error}}}`,
			map[string]any{"id": id})
		if err != nil {
			return err
		}
		node, _ := r["data"].(map[string]any)["node"].(map[string]any)
		if node["status"] != "RUNNING" {
			fmt.Printf("commit total (upload to SUCCEEDED): %v: %v\n", time.Since(t).Round(time.Millisecond), node)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func summary(body map[string]any) string {
	imp, _ := body["import"].(map[string]any)
	ps, _ := body["problems"].([]any)
	if imp == nil {
		return fmt.Sprint(body)
	}
	return fmt.Sprintf("status %v rows %v inserted %v updated %v unchanged %v failed %v notices %v (%d problems listed)",
		imp["status"], imp["rowsTotal"], imp["inserted"], imp["updated"], imp["unchanged"], imp["failed"], imp["notices"], len(ps))
}

// build writes n rows of new residents with distinct valid ID numbers
// (born 1926-1965, a random region of 成都), every tenth with a 15-digit
// number.
func build(n int, places []place, seed uint64) ([]byte, error) {
	rng := rand.New(rand.NewPCG(seed, 0x1e))
	w, err := sheet.NewWriter("居民", resident.ImportColumns)
	if err != nil {
		return nil, err
	}
	surnames := []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈")
	given := []rune("秀英桂兰玉珍凤华淑芳建国明德文志伟平军成永福春梅金海红霞国强丽琴素贵荣光辉")
	regions := []string{"510104", "510105", "510106", "510107", "510108", "510112", "510113", "510114", "510122", "510181"}
	statuses := []string{"", "", "", "独居", "空巢", "低保", "独居、低保", "特困"}
	levels := []string{"", "", "能力完好", "轻度失能", "中度失能", "重度失能", "完全失能"}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		var num string
		for {
			b := time.Date(1926, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(40*365))
			g := idnumber.Male
			if rng.IntN(2) == 0 {
				g = idnumber.Female
			}
			num = idnumber.Generate(regions[rng.IntN(len(regions))], b, rng.IntN(1000), g)
			if !seen[num] {
				seen[num] = true
				break
			}
		}
		id := num
		if i%10 == 9 {
			id = num[:6] + num[8:17]
		}
		name := string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))])
		if rng.IntN(2) == 0 {
			name += string(given[rng.IntN(len(given))])
		}
		p := places[rng.IntN(len(places))]
		phone := fmt.Sprintf("13%d%08d", rng.IntN(10), rng.IntN(100000000))
		row := []string{name, id, "", "", phone, fmt.Sprintf("锦江区%s%d号", p.community, rng.IntN(300)+1), p.community, p.grid,
			statuses[rng.IntN(len(statuses))], levels[rng.IntN(len(levels))]}
		if err := w.Row(row); err != nil {
			return nil, err
		}
	}
	return w.Bytes()
}

func login(base, user, password string) (string, error) {
	r, err := gql(base, "", `mutation($u:String!,$p:String!){login(input:{username:$u,password:$p}){accessToken userErrors{code}}}`,
		map[string]any{"u": user, "p": password})
	if err != nil {
		return "", err
	}
	tok, _ := r["data"].(map[string]any)["login"].(map[string]any)["accessToken"].(string)
	if tok == "" {
		return "", fmt.Errorf("login failed: %v", r)
	}
	return tok, nil
}

// districtPlaces lists every community with each of its grids' codes.
func districtPlaces(base, tok string) ([]place, error) {
	r, err := gql(base, tok, `{orgUnits(kind:GRID){code parent{name code}}}`, nil)
	if err != nil {
		return nil, err
	}
	var out []place
	units, _ := r["data"].(map[string]any)["orgUnits"].([]any)
	for _, u := range units {
		m := u.(map[string]any)
		parent, _ := m["parent"].(map[string]any)
		if parent == nil {
			continue
		}
		out = append(out, place{community: parent["code"].(string), grid: m["code"].(string)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no grids: %v", r)
	}
	return out, nil
}

func gql(base, tok, query string, vars map[string]any) (map[string]any, error) {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

func upload(base, tok string, data []byte, dry bool) (int, map[string]any, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "residents.xlsx")
	fw.Write(data)
	mw.WriteField("dryRun", fmt.Sprint(dry))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+"/imports/residents", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}
