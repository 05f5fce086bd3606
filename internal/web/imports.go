package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/stats"
)

// maxImportUpload bounds one upload of export files.
const maxImportUpload = 8 << 30

// importJobs are the imports running now, by the id the uploading page
// chose, so that it can show how far each got.
type importJobs struct {
	mu sync.Mutex
	m  map[string]*importJob
}

type importJob struct {
	site        string
	done, total int64
}

var jobID = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

func (j *importJobs) start(id, site string) *importJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string]*importJob{}
	}
	job := &importJob{site: site}
	j.m[id] = job
	return job
}

func (j *importJobs) set(job *importJob, done, total int64) {
	j.mu.Lock()
	job.done, job.total = done, total
	j.mu.Unlock()
}

func (j *importJobs) finish(id string) {
	j.mu.Lock()
	delete(j.m, id)
	j.mu.Unlock()
}

func (j *importJobs) get(id, site string) (done, total int64, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job := j.m[id]
	if job == nil || job.site != site {
		return 0, 0, false
	}
	return job.done, job.total, true
}

// importRow is one import as the settings page lists it.
type importRow struct {
	ID                      int64
	Source, Label, From, To string
	Created                 time.Time
	Rows                    string
}

var sourceNames = map[string]string{imported.SourcePlausible: "Plausible", imported.SourceGoatCounter: "GoatCounter", imported.SourceUmami: "Umami"}

// siteImports lists a site's complete imports (none without an import
// store).
func (s *Server) siteImports(ctx context.Context, domain string) ([]imported.Import, error) {
	if s.Imports == nil {
		return nil, nil
	}
	all, err := s.Imports.Imports(ctx, domain)
	if err != nil {
		return nil, err
	}
	var out []imported.Import
	for _, im := range all {
		if im.Complete {
			out = append(out, im)
		}
	}
	return out, nil
}

// uploadImport imports the uploaded export files. A page with scripts
// sends Accept: application/json and a job id, and polls the progress
// while this runs; a plain form gets the settings page back.
func (s *Server) uploadImport(w http.ResponseWriter, r *http.Request) error {
	vw := viewerOf(r)
	st := vw.site
	wantsJSON := strings.Contains(r.Header.Get("Accept"), "application/json")
	fail := func(err error) error {
		var fe *imported.FormatError
		if errors.As(err, &fe) {
			err = errInvalid("file", "nothing was imported: "+fe.Error())
		}
		if wantsJSON {
			return err
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			return s.renderSettings(w, r, ae.Status, ae.Message, "", "")
		}
		return err
	}
	if s.Imports == nil {
		return fail(&apiError{Status: http.StatusNotImplemented, Code: codeInvalid, Message: "this event store keeps no imports"})
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
		return fail(errInvalid("file", "choose one or more export files: Plausible's zip or CSV files, or GoatCounter's or Umami's CSV export"))
	}
	var files []imported.File
	for _, fh := range r.MultipartForm.File["file"] {
		fh := fh
		files = append(files, imported.File{Name: filepath.Base(fh.Filename), Size: fh.Size,
			Open: func() (io.ReadCloser, error) { return fh.Open() },
			OpenAt: func() (io.ReaderAt, int64, io.Closer, error) {
				f, err := fh.Open()
				if err != nil {
					return nil, 0, nil, err
				}
				return f, fh.Size, f, nil
			}})
	}
	var job *importJob
	id := r.PostFormValue("job")
	if jobID.MatchString(id) {
		job = s.importJobs.start(id, st.Domain)
		defer s.importJobs.finish(id)
	}
	ctx := context.WithoutCancel(r.Context()) // a closed tab does not leave half an import
	res, err := imported.Run(ctx, s.Imports, files, imported.Options{Site: st.Domain, Location: st.Location(), Now: s.Now,
		Progress: func(done, total int64) {
			if job != nil {
				s.importJobs.set(job, done, total)
			}
		}})
	if err != nil {
		s.log.Info("import failed", "site", st.Domain, "err", err)
		return fail(err)
	}
	s.earliest.forget(st.Domain)
	s.log.Info("imported", "site", st.Domain, "source", res.Source, "rows", res.Rows, "id", res.ID)
	if wantsJSON {
		writeJSON(w, http.StatusOK, map[string]any{"import": map[string]any{
			"id": res.ID, "source": res.Source, "from": imported.FormatDay(res.From), "to": imported.FormatDay(res.To), "rows": res.Rows,
			"ignored_columns": res.Ignored}})
		return nil
	}
	http.Redirect(w, r, vw.base+"/settings?imported="+strconv.FormatInt(res.ID, 10)+"#imports", http.StatusSeeOther)
	return nil
}

// importProgress answers how far an upload's import got.
func (s *Server) importProgress(w http.ResponseWriter, r *http.Request) error {
	done, total, ok := s.importJobs.get(r.PathValue("job"), viewerOf(r).site.Domain)
	if !ok {
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no import running under this id (it may have finished)"}
	}
	writeJSON(w, http.StatusOK, map[string]int64{"done": done, "total": total})
	return nil
}

// deleteImport removes one import and everything it brought.
func (s *Server) deleteImport(w http.ResponseWriter, r *http.Request) error {
	vw := viewerOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || s.Imports == nil {
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such import"}
	}
	if err := s.Imports.DeleteImport(r.Context(), vw.site.Domain, id); err != nil {
		if errors.Is(err, imported.ErrNotFound) {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: fmt.Sprintf("%s has no import %d", vw.site.Domain, id)}
		}
		return err
	}
	s.earliest.forget(vw.site.Domain)
	http.Redirect(w, r, vw.base+"/settings?deleted_import=1#imports", http.StatusSeeOther)
	return nil
}

// exportPlausible streams the site's data, imported history included, as
// Plausible's CSV export archive.
func (s *Server) exportPlausible(w http.ResponseWriter, r *http.Request) error {
	vw := viewerOf(r)
	st := s.withHistory(r.Context(), vw.site)
	loc := st.Location()
	day := func(t time.Time) time.Time {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	e := &stats.Export{Reader: s.Stats, Imports: s.Imports, Site: st, From: day(st.CreatedAt), To: day(s.Now())}
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"from", &e.From}, {"to", &e.To}} {
		if v := q.Get(p.name); v != "" {
			d, err := time.ParseInLocation(time.DateOnly, v, loc)
			if err != nil {
				return errInvalid(p.name, "a date as YYYY-MM-DD")
			}
			*p.to = d
		}
	}
	if e.To.Before(e.From) {
		return errInvalid("to", "the range ends before it starts")
	}
	if q.Get("imports") == "0" {
		e.Imports = nil
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * time.Hour))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+e.FileName()+`"`)
	if err := e.WriteZip(r.Context(), w); err != nil {
		// The archive is cut short; the client sees a broken download.
		s.log.Warn("export failed", "site", st.Domain, "err", err)
	}
	return nil
}

// importRows formats imports for the settings page.
func importRows(imps []imported.Import) []importRow {
	out := make([]importRow, 0, len(imps))
	for _, im := range imps {
		out = append(out, importRow{ID: im.ID, Source: sourceNames[im.Source], Label: im.Label, From: imported.FormatDay(im.From),
			To: imported.FormatDay(im.To), Created: im.Created, Rows: formatCount(float64(im.Rows))})
	}
	return out
}

// importsSummary says, for the dashboard, which imported periods a view
// can include.
func importsSummary(imps []imported.Import) template.HTML {
	var parts []string
	for _, im := range imps {
		parts = append(parts, fmt.Sprintf("%s, %s to %s", template.HTMLEscapeString(sourceNames[im.Source]),
			dayTag(imported.FormatDay(im.From)), dayTag(imported.FormatDay(im.To))))
	}
	return template.HTML(strings.Join(parts, "; "))
}

// limitUpload reads an upload for requireAdmin's form check, after the
// session is known to be an administrator's (nobody else makes the
// server store a file): the files go to temporary files, not memory.
func (s *Server) limitUpload(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.Admin.Check(r.Context(), sessionToken(r)); err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": codeUnauthenticated, "message": "log in to the dashboard first"}})
			return
		}
		// Large files take longer than the server's usual deadlines.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(2 * time.Hour))
		rc.SetWriteDeadline(time.Now().Add(2 * time.Hour))
		r.Body = http.MaxBytesReader(w, r.Body, maxImportUpload)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			msg := "the upload could not be read: " + err.Error()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				msg = fmt.Sprintf("the upload is larger than %d GiB; import it with waymark import", maxImportUpload>>30)
			}
			if errors.Is(err, multipart.ErrMessageTooLarge) || strings.Contains(err.Error(), "request Content-Type isn't multipart/form-data") {
				msg = "send the files as multipart/form-data (the settings page's form does)"
			}
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": codeInvalid, "field": "file", "message": msg}})
			return
		}
		h.ServeHTTP(w, r)
	})
}
