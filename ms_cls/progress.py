"""Progress of the long steps (decode checks, validation, eval and predict batches, EDA).

tqdm draws the bar: it is the progress library most Python users already have, handles rates,
ETAs, terminal widths and threads, and can be silenced with its own ``TQDM_DISABLE=1``. On a
terminal it is the usual bar (cleared when the step ends, whose summary line follows). When the
stream is not a terminal (a log file, ``nohup``, msrun's worker logs, CI) a bar would write a
``\\r`` line every 0.1 s; there each report is a whole line instead, the first after
``LINE_SECONDS`` and then every ``LINE_SECONDS``, plus one when the step ends: a step shorter
than that adds nothing to a log.
"""
import sys

from tqdm import tqdm

#: Seconds between two progress lines when the output is not a terminal.
LINE_SECONDS = 10.0
LINE_FORMAT = ('{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f} %), {elapsed} elapsed, '
               '{remaining} left, {rate_fmt}')


class LineProgress(tqdm):
    """tqdm that writes each report as one line (for files: no ``\\r``, no bar)."""
    monitor_interval = 0   # no monitor thread: lines come from update() only

    def display(self, msg=None, pos=None):
        if msg == '':      # tqdm clearing its bar: there is none
            return False
        self.fp.write((self.__str__() if msg is None else msg) + '\n')
        self.fp.flush()
        return True

    def close(self):
        # one last line when the step took long enough to have reported at all
        if not self.disable and self.n != self.last_print_n \
                and self.last_print_t >= self.start_t + self.delay:
            self.display()
        self.leave = False
        super().close()


def progress(iterable=None, total=None, desc='', unit='images', file=None, enabled=True,
             **tqdm_options):
    """``tqdm(iterable)`` as the module docstring says: a bar on a terminal, lines elsewhere.
    ``file`` defaults to stderr, so the command's results on stdout stay clean;
    ``enabled=False`` shows nothing (``TQDM_DISABLE=1`` does that for every bar);
    ``tqdm_options`` go to tqdm as they are (``unit_scale``, ``initial`` for a download)."""
    file = file if file is not None else sys.stderr
    options = dict(total=total, desc=desc, unit=unit, file=file, **tqdm_options)
    if not enabled:
        options['disable'] = True
    if getattr(file, 'isatty', lambda: False)():
        return tqdm(iterable, leave=False, dynamic_ncols=True, **options)
    return LineProgress(iterable, mininterval=LINE_SECONDS, delay=LINE_SECONDS,
                        bar_format=LINE_FORMAT, **options)
