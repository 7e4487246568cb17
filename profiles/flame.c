/*
 * profiles/flame.c - a flame graph as one self-contained SVG file: frames
 * drawn in the file itself (readable with scripts off), and a small script
 * for click to zoom, search with highlighting and a details line.  No
 * network, no external files.
 *
 * Layout: the root at the top, callees below (an icicle, as pprof's web
 * flame graph); each frame's width is its cumulative value; siblings are
 * sorted by name so the same profile draws the same picture.  Frames
 * narrower than MIN_PX are left out (their value stays in the parent).
 *
 * Test hooks (tests/t0016-flame.sh): opening the file with "#zoom=fN" clicks
 * frame fN, "#search=RE" types RE into the search box.
 */
#define _GNU_SOURCE
#include "flame.h"
#include "report.h"
#include "../lib/u64map.h"
#include "../lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1200
#define PAD 10
#define FRAME_H 17
#define TOP 48
#define MIN_PX 0.3
#define MAX_FRAMES 65536

struct fnode {
	uint32_t name;		/* report node */
	uint32_t parent, first, next;	/* UINT32_MAX: none */
	int64_t v;
	uint32_t depth;
};

struct ftree {
	struct fnode *n;
	size_t count, alloc;
	struct u64map children;	/* (parent, name) -> index */
};

static uint32_t child(struct ftree *t, uint32_t parent, uint32_t name)
{
	bool added;
	uint64_t *ix = u64map_put(&t->children, parent, name, t->count, &added);

	if (added) {
		GROW(t->n, t->alloc, t->count + 1);
		t->n[t->count] = (struct fnode){ name, parent, UINT32_MAX, UINT32_MAX, 0,
						 t->n[parent].depth + 1 };
		t->n[t->count].next = t->n[parent].first;
		t->n[parent].first = (uint32_t)t->count;
		t->count++;
	}
	return (uint32_t)*ix;
}

static void xml_text(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; *s && i < max; s++, i++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

/* A warm colour from the name, the same every time. */
static void color(const char *name, char *buf, size_t size)
{
	uint64_t h = hash_bytes(HASH_INIT, name, strlen(name));
	unsigned r = 205 + (unsigned)(h % 50), g = (unsigned)((h >> 8) % 230),
		 b = (unsigned)((h >> 16) % 55);

	snprintf(buf, size, "rgb(%u,%u,%u)", r, g, b);
}

struct sort_ctx {
	const struct report *r;
	const struct ftree *t;
};

static int cmp_children(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct fnode *x = &c->t->n[*(const uint32_t *)a], *y = &c->t->n[*(const uint32_t *)b];

	return strcmp(c->r->nodes[x->name].name, c->r->nodes[y->name].name);
}

static const char script[] =
	"var W=" "1200" ",PAD=10,frames,zoomed=null,details,matched,search,unzoom;\n"
	"function val(e,k){return +e.getAttribute('data-'+k);}\n"
	"function fit(e){var r=e.querySelector('rect'),t=e.querySelector('text'),n=e.getAttribute('data-n');\n"
	"  var w=+r.getAttribute('width'),c=Math.floor((w-6)/7);\n"
	"  t.setAttribute('x',(+r.getAttribute('x')+3).toFixed(1));\n"
	"  t.textContent=c<3?'':(n.length>c?n.slice(0,c-2)+'..':n);}\n"
	"function place(e,x,w){var r=e.querySelector('rect');r.setAttribute('x',x.toFixed(1));\n"
	"  r.setAttribute('width',w.toFixed(1));e.classList.remove('hide');fit(e);}\n"
	"function zoom(g){var x0=val(g,'x'),w0=val(g,'v'),d0=val(g,'d'),s=(W-2*PAD)/w0;\n"
	"  zoomed=g;unzoom.classList.remove('hide');\n"
	"  frames.forEach(function(e){var x=val(e,'x'),v=val(e,'v'),d=val(e,'d');\n"
	"    e.classList.remove('parent');\n"
	"    if(d<d0){if(x<=x0&&x+v>=x0+w0){place(e,PAD,W-2*PAD);e.classList.add('parent');}else e.classList.add('hide');return;}\n"
	"    if(x>=x0&&x+v<=x0+w0&&v*s>=0.3)place(e,PAD+(x-x0)*s,v*s);else e.classList.add('hide');});\n"
	"  document.documentElement.setAttribute('data-zoomed',g.id);}\n"
	"function reset(){zoomed=null;unzoom.classList.add('hide');\n"
	"  var s=(W-2*PAD)/val(frames[0],'v');\n"
	"  frames.forEach(function(e){e.classList.remove('parent');place(e,PAD+val(e,'x')*s,val(e,'v')*s);});\n"
	"  document.documentElement.removeAttribute('data-zoomed');}\n"
	"function find(q){var re=null,hits=[],sum=0,end=-1;\n"
	"  try{re=q?new RegExp(q):null;}catch(err){matched.textContent='bad regular expression';return;}\n"
	"  frames.forEach(function(e){var r=e.querySelector('rect'),m=re&&re.test(e.getAttribute('data-n'));\n"
	"    r.setAttribute('fill',m?'rgb(230,0,230)':e.getAttribute('data-fill'));\n"
	"    if(m){e.classList.add('match');hits.push(e);}else e.classList.remove('match');});\n"
	"  hits.sort(function(a,b){return val(a,'x')-val(b,'x')||val(a,'d')-val(b,'d');});\n"
	"  hits.forEach(function(e){var x=val(e,'x'),v=val(e,'v');if(x>=end){sum+=v;end=x+v;}else if(x+v>end){sum+=x+v-end;end=x+v;}});\n"
	"  matched.textContent=re?'Matched: '+(100*sum/val(frames[0],'v')).toFixed(1)+'% ('+hits.length+' frames)':'';\n"
	"  document.documentElement.setAttribute('data-matched',hits.length);}\n"
	"function init(){frames=Array.prototype.slice.call(document.querySelectorAll('g.f'));\n"
	"  details=document.getElementById('details');matched=document.getElementById('matched');\n"
	"  unzoom=document.getElementById('unzoom');search=document.getElementById('search');\n"
	"  frames.forEach(function(e){\n"
	"    e.addEventListener('click',function(){zoom(e);});\n"
	"    e.addEventListener('mouseover',function(){details.textContent=e.querySelector('title').textContent;});\n"
	"    e.addEventListener('mouseout',function(){details.textContent=' ';});});\n"
	"  unzoom.addEventListener('click',reset);\n"
	"  search.addEventListener('input',function(){find(search.value);});\n"
	"  document.addEventListener('keydown',function(ev){if(ev.key==='Escape')reset();});\n"
	"  var h=decodeURIComponent(location.hash.slice(1)),m;\n"
	"  if((m=/^zoom=(f[0-9]+)$/.exec(h))){var g=document.getElementById(m[1]);\n"
	"    if(g)g.dispatchEvent(new MouseEvent('click',{bubbles:true}));}\n"
	"  if((m=/^search=(.*)$/.exec(h))){search.value=m[1];search.dispatchEvent(new Event('input'));}\n"
	"  document.documentElement.setAttribute('data-ready','1');}\n"
	"window.addEventListener('load',init);\n";

int report_svg(FILE *f, const struct report *r, const char *title)
{
	const struct profile_data *p = r->p;
	struct ftree t = { 0 };
	uint32_t *frames = xmalloc(MAX_FRAMES * sizeof(*frames));
	bool *inl = xmalloc(MAX_FRAMES * sizeof(*inl));
	uint32_t *order, *stack;
	int64_t *xoff;
	size_t norder = 0, nstack = 0, maxdepth = 0;
	double scale;
	const char *unit;
	char val[64], pct[16], fill[32];
	int height;

	GROW(t.n, t.alloc, 1);
	t.n[t.count++] = (struct fnode){ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, 0, 0 };
	for (size_t st = 0; st < p->nstacks; st++) {
		size_t n;
		uint32_t at = 0;
		int64_t v;

		if (!r->kept[st])
			continue;
		v = p->values[st * p->nvalues + r->si];
		if (v < 0)
			continue;	/* a flame graph has no negative widths */
		n = report_frames(r, st, frames, inl, MAX_FRAMES);
		t.n[0].v += v;
		for (size_t k = n; k-- > 0;) {
			at = child(&t, at, frames[k]);
			t.n[at].v += v;
		}
	}
	/* depth-first, children by name: x offsets in value units */
	order = xcalloc(t.count, sizeof(*order));
	stack = xcalloc(t.count, sizeof(*stack));
	xoff = xcalloc(t.count, sizeof(*xoff));
	stack[nstack++] = 0;
	while (nstack) {
		uint32_t id = stack[--nstack], kids[4096], nk = 0;
		int64_t x = xoff[id];
		struct sort_ctx ctx = { r, &t };
		uint32_t c;

		order[norder++] = id;
		if (t.n[id].depth > maxdepth)
			maxdepth = t.n[id].depth;
		/* more than 4096 children: the rest unsorted, still drawn */
		for (c = t.n[id].first; c != UINT32_MAX && nk < 4096; c = t.n[c].next)
			kids[nk++] = c;
		qsort_r(kids, nk, sizeof(*kids), cmp_children, &ctx);
		for (; c != UINT32_MAX; c = t.n[c].next) {
			xoff[c] = x;
			x += t.n[c].v;
			stack[nstack++] = c;
		}
		for (uint32_t i = 0; i < nk; i++) {
			xoff[kids[i]] = x;
			x += t.n[kids[i]].v;
		}
		for (uint32_t i = nk; i-- > 0;)
			stack[nstack++] = kids[i];
	}
	scale = t.n[0].v ? (double)(WIDTH - 2 * PAD) / (double)t.n[0].v : 0;
	unit = report_pick_unit(r->unit, t.n[0].v, t.n[0].v);
	height = TOP + (int)(maxdepth + 1) * FRAME_H + 30;

	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"xmlns=\"http://www.w3.org/2000/svg\">\n", WIDTH, height, WIDTH, height);
	fprintf(f, "<style>\n"
		"text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
		"g.f text { pointer-events: none; }\n"
		"g.f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }\n"
		"g.parent { opacity: 0.5; }\n"
		".hide { display: none; }\n"
		"#title { font-size: 17px; text-anchor: middle; }\n"
		"#unzoom { cursor: pointer; fill: #06c; }\n"
		"input { font: 12px Verdana, sans-serif; width: 260px; }\n"
		"</style>\n<script type=\"text/javascript\"><![CDATA[\n%s]]></script>\n", script);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f8f8f8\"/>\n",
		WIDTH, height);
	fputs("<text id=\"title\" x=\"600\" y=\"24\">", f);
	xml_text(f, title && *title ? title : "Flame graph", 200);
	fputs(" (", f);
	xml_text(f, r->type, 64);
	report_format_value(val, sizeof(val), t.n[0].v, r->unit, unit);
	fprintf(f, ", total %s)</text>\n", val);
	fprintf(f, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">Reset zoom</text>\n", PAD);
	fprintf(f, "<foreignObject x=\"%d\" y=\"6\" width=\"280\" height=\"28\">"
		"<input xmlns=\"http://www.w3.org/1999/xhtml\" id=\"search\" type=\"text\" "
		"placeholder=\"search (regular expression)\"/></foreignObject>\n",
		WIDTH - PAD - 275);
	fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", PAD, height - 10);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n",
		WIDTH - PAD, height - 10);
	fputs("<g id=\"frames\">\n", f);
	for (size_t i = 0; i < norder; i++) {
		const struct fnode *fn = &t.n[order[i]];
		const char *name = order[i] ? r->nodes[fn->name].name : "all";
		double w = (double)fn->v * scale, x = PAD + (double)xoff[order[i]] * scale;
		int y = TOP + (int)fn->depth * FRAME_H;
		size_t chars = w > 6 ? (size_t)((w - 6) / 7) : 0;

		if (w < MIN_PX && i)
			continue;
		report_format_value(val, sizeof(val), fn->v, r->unit, unit);
		report_format_percent(pct, sizeof(pct), fn->v, t.n[0].v);
		if (order[i])
			color(name, fill, sizeof(fill));
		else
			snprintf(fill, sizeof(fill), "rgb(200,200,200)");
		fprintf(f, "<g class=\"f\" id=\"f%zu\" data-n=\"", i);
		xml_text(f, name, 4096);
		fprintf(f, "\" data-x=\"%" PRId64 "\" data-v=\"%" PRId64 "\" data-d=\"%" PRIu32
			"\" data-fill=\"%s\"><title>", xoff[order[i]], fn->v, fn->depth, fill);
		xml_text(f, name, 4096);
		fprintf(f, " (%s, %s)</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			"fill=\"%s\" rx=\"2\"/><text x=\"%.1f\" y=\"%d\">", val, pct + strspn(pct, " "),
			x, y, w, FRAME_H - 1, fill, x + 3, y + FRAME_H - 5);
		if (chars >= 3) {
			if (strlen(name) > chars) {
				xml_text(f, name, chars - 2);
				fputs("..", f);
			} else {
				xml_text(f, name, chars);
			}
		}
		fputs("</text></g>\n", f);
	}
	fputs("</g>\n</svg>\n", f);
	free(order);
	free(stack);
	free(xoff);
	free(t.n);
	u64map_release(&t.children);
	free(frames);
	free(inl);
	return ferror(f) ? -1 : 0;
}
