/* ea_pdf: the resource-metrics PDF report (docs/decisions.md §2.7, export_pdf):
 * A4, the title, a bar chart of totals per resource type, then one line per
 * metric on as many pages as needed.  Written through a callback as cairo
 * produces it, so a large report is never held whole. */
#ifndef EA_PDF_H
#define EA_PDF_H

/* Receives the PDF bytes; returns 0, or non-zero to abandon the report. */
typedef int (*ea_pdf_write_fn)(void *ctx, const unsigned char *data, unsigned int len);

typedef struct ea_pdf ea_pdf;

ea_pdf *ea_pdf_open(ea_pdf_write_fn write, void *ctx, const char *title);
/* The chart: n bars (labels[i], values[i]); call before the first row. */
void ea_pdf_chart(ea_pdf *p, const char *const *labels, const double *values, int n);
/* One table line ("BEN | solar | potential | 223.4000 | kWh/m2 | 2024"). */
void ea_pdf_row(ea_pdf *p, const char *line);
/* Finish and free; returns 0 when the whole document was written. */
int ea_pdf_close(ea_pdf *p);

#endif
