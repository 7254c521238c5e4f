/* fuzz_reader.c: libFuzzer target over st_dump_parse; an input that parses is also fed to
 * every output (text, JSON, advice, diff against itself), since they trust the parsed values. */
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct st_dump d;
    char err[512];
    if (st_dump_parse(data, size, &d, err, sizeof err) != 0) return 0;
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    struct st_report_opts opts = {.top_n = 5, .symbolize = false};
    struct st_layers layers;
    model_layers(&d, &layers);
    struct st_advice adv[32];
    advice_compute(&d, adv, 32);
    if (sink) {
        report_text(sink, &d, 1, &opts);
        report_json(sink, &d, 1, &opts);
        report_diff(sink, &d, &d, false, &opts);
        report_diff(sink, &d, &d, true, &opts);
    }
    st_dump_free(&d);
    return 0;
}
