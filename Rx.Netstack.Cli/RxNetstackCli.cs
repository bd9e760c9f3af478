using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Reflection;

namespace Rx.Netstack.Cli;

/// <summary>What each command runs once its command line has parsed; tests put recorders in their place.</summary>
internal sealed record CliCommands(
    Func<DemoOptions, Task<int>> Demo,
    Func<TunOptions, Task<int>> Tun,
    Func<HttpOptions, Task<int>> Http,
    Func<string, BenchOptions, Task<int>> Bench,
    Func<TapOptions, Task<int>>? Tap = null)
{
    /// <summary>The real commands.</summary>
    public static CliCommands Real { get; } = new(DemoCommand.RunAsync, TunCommand.RunAsync, HttpCommand.RunAsync, BenchCommand.RunAsync);

    /// <summary>The `proxy` command (the real one unless a test puts a recorder in its place).</summary>
    public Func<ProxyOptions, Task<int>> Proxy { get; init; } = ProxyCommand.RunAsync;
}

/// <summary>
/// The rx-netstack command line on System.CommandLine: the commands and their options (each <c>*Options.CreateCommand</c>),
/// <c>--help</c> (ending with the exit codes) and <c>--version</c>, and errors that name the command, say what was wrong
/// and suggest what was meant — exit code 2 (<see cref="ExitCodes"/>) before anything runs.
/// </summary>
internal sealed class RxNetstackCli
{
    public const string Name = "rx-netstack";

    private const string Description = """
        rx-netstack: Rx.Netstack, a userspace TCP/IP stack for .NET, as a tool. With no command it runs the demo.
        Every command takes --help; e.g. rx-netstack tun --help.
        """;

    public RxNetstackCli(CliCommands? commands = null)
    {
        commands ??= CliCommands.Real;
        // A plain Command, not RootCommand: RootCommand names itself after the process (testhost under the tests).
        Root = new Command(Name, Description)
        {
            new HelpOption(),
            new VersionOption(),
            DemoOptions.CreateCommand(commands.Demo),
            TunOptions.CreateCommand(commands.Tun),
            ProxyOptions.CreateCommand(commands.Proxy),
            HttpOptions.CreateCommand(commands.Http),
            BenchOptions.CreateCommand(commands.Bench),
            TapOptions.CreateCommand(commands.Tap ?? TapCommand.RunAsync),
        };
        Root.SetAction(_ => commands.Demo(new DemoOptions()));
        // `rx-netstack help` printed the usage before System.CommandLine; it still does.
        var help = new Command("help", "Show this help.") { Hidden = true };
        help.SetAction(result => Root.Parse(["--help"]).Invoke(result.InvocationConfiguration));
        Root.Subcommands.Add(help);
        foreach (var option in Root.Options)
        {
            option.Action = option switch
            {
                HelpOption => new HelpWithExitCodes((HelpAction)option.Action!),
                VersionOption => new PrintVersion(),
                _ => option.Action,
            };
        }
    }

    /// <summary>The root of the command tree.</summary>
    public Command Root { get; }

    /// <summary>The package version, as <c>--version</c> prints it (the informational version less its "+commit").</summary>
    public static string Version
    {
        get
        {
            var assembly = typeof(RxNetstackCli).Assembly;
            string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? assembly.GetName().Version?.ToString(3) ?? "0.0.0";
            int plus = version.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? version : version[..plus];
        }
    }

    /// <summary>Parses a command line (the arguments after the program's name).</summary>
    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args);

    /// <summary>
    /// Parses and runs a command line. Usage errors go to <paramref name="error"/> with exit code 2, help and version to
    /// <paramref name="output"/>; the commands themselves write to the console. Ctrl-C and SIGTERM are left to the
    /// commands (tun, http and demo --dashboard stop cleanly on them).
    /// </summary>
    public async Task<int> InvokeAsync(IReadOnlyList<string> args, TextWriter? output = null, TextWriter? error = null)
    {
        var configuration = new InvocationConfiguration
        {
            Output = output ?? Console.Out,
            Error = error ?? Console.Error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        ParseResult result = Parse(args);
        string command = CommandPath(result.CommandResult);
        if (result.Action is ParseErrorAction)
        {
            foreach (string problem in UsageErrors(result)) configuration.Error.WriteLine($"{command}: {problem}");
            configuration.Error.WriteLine($"See '{command} --help'.");
            return ExitCodes.Usage;
        }
        try
        {
            return await result.InvokeAsync(configuration).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            configuration.Error.WriteLine($"{command}: {e}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>What is wrong with a command line that did not parse, one line each, with suggestions.</summary>
    public static IReadOnlyList<string> UsageErrors(ParseResult result)
    {
        var problems = new List<string>();
        Command command = result.CommandResult.Command;
        IReadOnlyList<string> unmatched = result.UnmatchedTokens;
        for (int i = 0; i < unmatched.Count; i++)
        {
            string token = unmatched[i];
            if (token.Length > 1 && token[0] == '-' && !double.TryParse(token, out _))
            {
                problems.Add(UnknownOption(result.CommandResult, token));
                // The word after an unknown option is most likely its value: one complaint is enough.
                if (i + 1 < unmatched.Count && !unmatched[i + 1].StartsWith('-')) i++;
            }
            else if (command.Subcommands.Any(c => !c.Hidden))
            {
                var names = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
                string hint = Typos.DidYouMean(token, names);
                problems.Add($"unknown command '{token}'{(hint.Length > 0 ? hint : $" (commands: {string.Join(", ", names)})")}");
            }
            else
            {
                problems.Add($"unexpected argument '{token}'");
            }
        }
        foreach (var parseError in result.Errors)
        {
            // Unmatched tokens were reported above, better.
            if (parseError.SymbolResult is CommandResult && unmatched.Any(t => parseError.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            // A command that only groups others (bench) was given none.
            if (parseError.SymbolResult is CommandResult { Command: { Action: null } group } && group.Subcommands.Count > 0)
            {
                if (unmatched.Count == 0) problems.Add($"which one? {string.Join(", ", group.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}");
                continue;
            }
            problems.Add(parseError.Message);
        }
        return problems.Distinct().ToList();
    }

    private static string UnknownOption(CommandResult at, string token)
    {
        string name = token.Split('=', ':')[0];
        var here = OptionsInScope(at).Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)).ToList();
        string hint = Typos.DidYouMean(name, here);
        if (hint.Length > 0) return $"unknown option '{name}'{hint}";
        // An option of another command (bench rr --size): say whose it is.
        Command root = at.Command;
        for (SymbolResult? r = at; r is not null; r = r.Parent)
            if (r is CommandResult c) root = c.Command;
        var owners = AllCommands(root)
            .Where(c => c != at.Command && c.Options.Any(o => o.Name == name || o.Aliases.Contains(name)))
            .Select(c => CommandPath(c).Replace($"{Name} ", "", StringComparison.Ordinal))
            .ToList();
        return owners.Count > 0
            ? $"unknown option '{name}': {AndList(owners)} take{(owners.Count == 1 ? "s" : "")} it, {CommandPath(at).Replace($"{Name} ", "", StringComparison.Ordinal)} does not"
            : $"unknown option '{name}'";
    }

    private static string AndList(List<string> items) =>
        items.Count == 1 ? items[0] : $"{string.Join(", ", items.Take(items.Count - 1))} and {items[^1]}";

    /// <summary>The options a command accepts: its own and its ancestors' recursive ones (--help).</summary>
    private static IEnumerable<Option> OptionsInScope(CommandResult at)
    {
        foreach (var option in at.Command.Options) yield return option;
        for (SymbolResult? r = at.Parent; r is not null; r = r.Parent)
            if (r is CommandResult c)
                foreach (var option in c.Command.Options.Where(o => o.Recursive)) yield return option;
    }

    private static IEnumerable<Command> AllCommands(Command command) => command.Subcommands.SelectMany(AllCommands).Prepend(command);

    /// <summary>"rx-netstack bench tcp" for the command that was parsed.</summary>
    public static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Add(c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string> { command.Name };
        for (Symbol? s = command.Parents.FirstOrDefault(); s is not null; s = s.Parents.FirstOrDefault()) names.Add(s.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>System.CommandLine's help, then the exit codes.</summary>
    private sealed class HelpWithExitCodes(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            int code = help.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes.HelpFor(CommandPath(parseResult.CommandResult)));
            return code;
        }
    }

    /// <summary>The package version alone (System.CommandLine's would add "+commit").</summary>
    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Version);
            return ExitCodes.Success;
        }
    }
}
