using Spectre.Console;
using Spectre.Console.Rendering;

namespace Rx.Netstack.Cli;

/// <summary>
/// Where the demo and the benchmarks print: Spectre.Console (colour, live progress, boxed tables) on a terminal, plain text
/// (no ANSI codes, no live redraw) when stdout is redirected to a file or a pipe.
/// </summary>
internal sealed class DemoConsole
{
    public static DemoConsole Create() => new(!Console.IsOutputRedirected);

    private DemoConsole(bool fancy) => Fancy = fancy;

    /// <summary>True on a terminal.</summary>
    public bool Fancy { get; }

    public void Heading(string title)
    {
        if (Fancy) AnsiConsole.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
        else Console.WriteLine($"== {title}");
    }

    public void Line(string text)
    {
        if (Fancy) AnsiConsole.MarkupLine($"  {Markup.Escape(text)}");
        else Console.WriteLine($"  {text}");
    }

    public void Ok(string text)
    {
        if (Fancy) AnsiConsole.MarkupLine($"  [green]✓[/] {Markup.Escape(text)}");
        else Console.WriteLine($"  ok: {text}");
    }

    public void Fail(string text)
    {
        if (Fancy) AnsiConsole.MarkupLine($"  [red]✗ {Markup.Escape(text)}[/]");
        else Console.WriteLine($"  FAILED: {text}");
    }

    /// <summary>Prints a table: first row is the header.</summary>
    public void Table(string? title, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var list = rows.ToList();
        if (Fancy)
        {
            var table = new Table().Border(TableBorder.Rounded);
            if (title is not null) table.Title($"[bold]{Markup.Escape(title)}[/]");
            for (int i = 0; i < header.Count; i++)
            {
                var column = new TableColumn(Markup.Escape(header[i]));
                if (i > 0) column.RightAligned();
                table.AddColumn(column);
            }
            foreach (var row in list) table.AddRow(row.Select(Markup.Escape).ToArray());
            AnsiConsole.Write(table);
            return;
        }
        if (title is not null) Console.WriteLine($"  {title}");
        int[] widths = header.Select((h, i) => Math.Max(h.Length, list.Count == 0 ? 0 : list.Max(r => r[i].Length))).ToArray();
        string Format(IReadOnlyList<string> cells) =>
            "  " + string.Join("  ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i])));
        Console.WriteLine(Format(header));
        Console.WriteLine("  " + string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in list) Console.WriteLine(Format(row));
    }

    /// <summary>
    /// Runs <paramref name="work"/> while showing its progress (0..<paramref name="total"/>, read through the callback):
    /// a live bar on a terminal, a line per second otherwise.
    /// </summary>
    public async Task<T> WithProgressAsync<T>(string label, long total, Func<long> progress, Func<Task<T>> work,
        Func<IReadOnlyList<IReadOnlyList<string>>>? liveRows = null, IReadOnlyList<string>? liveHeader = null)
    {
        if (Fancy && liveRows is not null && liveHeader is not null)
            return await WithLiveTableAsync(label, total, progress, work, liveRows, liveHeader).ConfigureAwait(false);
        if (Fancy)
        {
            return await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new ElapsedTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(label, maxValue: total);
                    Task<T> running = work();
                    while (!running.IsCompleted)
                    {
                        task.Value = Math.Min(progress(), total);
                        await Task.WhenAny(running, Task.Delay(100)).ConfigureAwait(false);
                    }
                    task.Value = task.MaxValue;
                    return await running.ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        Task<T> plain = work();
        while (!plain.IsCompleted)
        {
            await Task.WhenAny(plain, Task.Delay(1000)).ConfigureAwait(false);
            if (!plain.IsCompleted) Console.WriteLine($"  {label}: {progress() / 1e6:F1} of {total / 1e6:F1} MB");
        }
        return await plain.ConfigureAwait(false);
    }

    /// <summary>A progress line above a table of counters, both redrawn ten times a second while the work runs.</summary>
    private static async Task<T> WithLiveTableAsync<T>(string label, long total, Func<long> progress, Func<Task<T>> work,
        Func<IReadOnlyList<IReadOnlyList<string>>> liveRows, IReadOnlyList<string> header)
    {
        IRenderable Render(TimeSpan elapsed)
        {
            long done = Math.Min(progress(), total);
            const int Width = 40;
            int filled = total == 0 ? Width : (int)(Width * done / total);
            string bar = $"{Markup.Escape(label)} [green]{new string('━', filled)}[/][grey]{new string('━', Width - filled)}[/] " +
                         $"{100.0 * done / Math.Max(1, total):F0}%  {done / 1e6 / Math.Max(0.001, elapsed.TotalSeconds):F0} MB/s";
            var table = new Table().Border(TableBorder.Rounded).Title("[bold]live counters (Netstack.Stats)[/]");
            for (int i = 0; i < header.Count; i++)
            {
                var column = new TableColumn(Markup.Escape(header[i]));
                if (i > 0) column.RightAligned();
                table.AddColumn(column);
            }
            foreach (var row in liveRows()) table.AddRow(row.Select(Markup.Escape).ToArray());
            return new Rows(new Markup(bar), table);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        T result = default!;
        await AnsiConsole.Live(Render(TimeSpan.Zero)).StartAsync(async ctx =>
        {
            Task<T> running = work();
            while (!running.IsCompleted)
            {
                ctx.UpdateTarget(Render(clock.Elapsed));
                await Task.WhenAny(running, Task.Delay(100)).ConfigureAwait(false);
            }
            ctx.UpdateTarget(Render(clock.Elapsed));
            result = await running.ConfigureAwait(false);
        }).ConfigureAwait(false);
        return result;
    }
}
