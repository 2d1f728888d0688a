/* ea_pdf: see ea_pdf.h.  Coordinates follow the old ReportLab report
 * (1 cm = 28.3465 pt), measured here from the top of the page. */
#include "ea_pdf.h"

#include <cairo.h>
#include <cairo-pdf.h>
#include <stdio.h>
#include <stdlib.h>

#define CM 28.3465
#define PAGE_W 595.2756
#define PAGE_H 841.8898
#define HEADER_LINE "Country | Type | Metric | Value | Unit | Year"

struct ea_pdf {
    cairo_surface_t *surface;
    cairo_t *cr;
    ea_pdf_write_fn write;
    void *ctx;
    int failed;
    double y;            /* where the next row goes, from the top */
    double header_y;     /* where this page's table header goes */
    int header_drawn;
};

static cairo_status_t on_write(void *closure, const unsigned char *data, unsigned int len)
{
    ea_pdf *p = closure;
    if (p->failed || p->write(p->ctx, data, len) != 0) {
        p->failed = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, int bold, double size)
{
    cairo_select_font_face(cr, "Helvetica", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

/* The table header goes at y when the page gets its first row (or when the
 * report ends); rows follow 0.8 cm below it. */
static void table_header_at(ea_pdf *p, double y)
{
    p->header_y = y;
    p->header_drawn = 0;
    p->y = y + 0.8 * CM;
}

static void draw_header(ea_pdf *p)
{
    if (!p->header_drawn) {
        text_at(p->cr, 2 * CM, p->header_y, HEADER_LINE, 0, 10);
        p->header_drawn = 1;
    }
}

ea_pdf *ea_pdf_open(ea_pdf_write_fn write, void *ctx, const char *title)
{
    ea_pdf *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->write = write;
    p->ctx = ctx;
    p->surface = cairo_pdf_surface_create_for_stream(on_write, p, PAGE_W, PAGE_H);
    cairo_pdf_surface_set_metadata(p->surface, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(p->surface, CAIRO_PDF_METADATA_CREATOR, "mod_ecoatlas");
    p->cr = cairo_create(p->surface);
    cairo_set_source_rgb(p->cr, 0, 0, 0);
    text_at(p->cr, 2 * CM, 2 * CM, title, 1, 14);
    table_header_at(p, 3 * CM);
    return p;
}

void ea_pdf_chart(ea_pdf *p, const char *const *labels, const double *values, int n)
{
    cairo_t *cr = p->cr;
    double max = 0, top = 3 * CM, bar = 0.7 * CM, gap = 0.3 * CM, width = 11 * CM;
    char num[64];

    if (n <= 0)
        return;
    for (int i = 0; i < n; i++)
        if (values[i] > max)
            max = values[i];
    text_at(cr, 2 * CM, top, "Total value per resource type", 1, 11);
    for (int i = 0; i < n; i++) {
        double y = top + 0.5 * CM + i * (bar + gap);
        double w = max > 0 ? width * values[i] / max : 0;
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, 2 * CM, y + bar * 0.7, labels[i], 0, 9);
        cairo_set_source_rgb(cr, 0.16, 0.45, 0.70);
        cairo_rectangle(cr, 4.5 * CM, y, w < 1 && values[i] > 0 ? 1 : w, bar);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(num, sizeof(num), "%.2f", values[i]);
        text_at(cr, 4.5 * CM + w + 0.2 * CM, y + bar * 0.7, num, 0, 9);
    }
    table_header_at(p, top + 0.5 * CM + n * (bar + gap) + 1.0 * CM);
}

void ea_pdf_row(ea_pdf *p, const char *line)
{
    if (p->failed)
        return;
    if (p->y > PAGE_H - 2 * CM) {   /* as ReportLab's y < 2 cm: a new page */
        cairo_show_page(p->cr);
        table_header_at(p, 2 * CM);
    }
    draw_header(p);
    text_at(p->cr, 2 * CM, p->y, line, 0, 10);
    p->y += 0.6 * CM;
}

int ea_pdf_close(ea_pdf *p)
{
    int failed;
    draw_header(p);
    cairo_show_page(p->cr);
    cairo_destroy(p->cr);
    cairo_surface_finish(p->surface);
    failed = p->failed || cairo_surface_status(p->surface) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(p->surface);
    free(p);
    return failed ? -1 : 0;
}
