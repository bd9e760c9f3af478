namespace Rx.Netstack.Cli;

/// <summary>A wrong command line: the message says what was wrong; the program exits 2.</summary>
internal sealed class CliUsageException(string message) : Exception(message);
