package web

import (
	"context"
	"sync"
	"time"

	"github.com/envoi/envoi/internal/model"
)

// listCacheTTL bounds how stale a list's name or description on a public page
// may be. Lists change rarely and every signup needs one: this saves a query
// per request on the hottest path.
const listCacheTTL = 5 * time.Second

type cachedList struct {
	list model.List
	at   time.Time
}

type listCache struct {
	mu sync.RWMutex
	m  map[string]cachedList
}

// listBySlug returns a list, from the cache when fresh. Misses (not_found) are
// not cached, so a new list is visible at once.
func (s *Server) listBySlug(ctx context.Context, slug string) (model.List, error) {
	s.lists.mu.RLock()
	c, ok := s.lists.m[slug]
	s.lists.mu.RUnlock()
	if ok && time.Since(c.at) < listCacheTTL {
		return c.list, nil
	}
	l, err := s.Store.ListBySlug(ctx, slug)
	if err != nil {
		return l, err
	}
	s.lists.mu.Lock()
	if s.lists.m == nil || len(s.lists.m) > 10000 {
		s.lists.m = map[string]cachedList{}
	}
	s.lists.m[slug] = cachedList{l, time.Now()}
	s.lists.mu.Unlock()
	return l, nil
}
