// Command adminload signs in to the admin UI and fetches pages one after the
// other (a marketer clicking, as several with -c), printing per page the
// requests made, the status codes and the p50/p95/p99 latencies. Usage:
//
//	go run ./bench/adminload -base http://127.0.0.1:8092 -email E -password P -n 100 /admin/ /admin/lists
//
// A page may carry {n}, replaced by the request's number (to vary a search).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8092", "Envoi's base URL")
	email := flag.String("email", "", "admin account")
	password := flag.String("password", "", "its password")
	n := flag.Int("n", 100, "requests per page")
	c := flag.Int("c", 1, "clients, each signed in on its own")
	warm := flag.Int("warm", 3, "requests per page before measuring")
	flag.Parse()
	pages := flag.Args()
	if *email == "" || len(pages) == 0 {
		fmt.Fprintln(os.Stderr, "usage: adminload -email E -password P [-n N] [-c C] PAGE...")
		os.Exit(2)
	}
	clients := make([]*http.Client, *c)
	for i := range clients {
		jar, _ := cookiejar.New(nil)
		clients[i] = &http.Client{Jar: jar, Timeout: 60 * time.Second}
		res, err := clients[i].PostForm(*base+"/admin/login", url.Values{"email": {*email}, "password": {*password}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "login:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if !strings.HasSuffix(res.Request.URL.Path, "/admin/") || res.StatusCode != 200 {
			fmt.Fprintf(os.Stderr, "login failed: %d %s\n", res.StatusCode, res.Request.URL)
			os.Exit(1)
		}
	}
	fmt.Printf("%-48s %6s %8s %8s %8s %8s  %s\n", "page", "n", "p50", "p95", "p99", "max", "statuses")
	for _, page := range pages {
		get := func(cl *http.Client, i int) (time.Duration, int) {
			u := *base + strings.ReplaceAll(page, "{n}", strconv.Itoa(i))
			start := time.Now()
			res, err := cl.Get(u)
			if err != nil {
				return time.Since(start), 0
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return time.Since(start), res.StatusCode
		}
		for i := 0; i < *warm; i++ {
			get(clients[0], 1_000_000+i)
		}
		var mu sync.Mutex
		var lat []time.Duration
		codes := map[int]int{}
		var wg sync.WaitGroup
		per := *n / *c
		for ci, cl := range clients {
			wg.Add(1)
			go func(ci int, cl *http.Client) {
				defer wg.Done()
				for i := 0; i < per; i++ {
					d, code := get(cl, ci*per+i)
					mu.Lock()
					lat = append(lat, d)
					codes[code]++
					mu.Unlock()
				}
			}(ci, cl)
		}
		wg.Wait()
		slices.Sort(lat)
		q := func(p float64) string {
			return fmt.Sprintf("%.1fms", float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())/1000)
		}
		fmt.Printf("%-48s %6d %8s %8s %8s %8s  %v\n", page, len(lat), q(0.50), q(0.95), q(0.99), q(1), codes)
	}
}
