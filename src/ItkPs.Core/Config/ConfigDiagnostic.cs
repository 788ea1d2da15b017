namespace ItkPs.Core.Config;

public enum DiagnosticSeverity { Error, Warning }

/// <summary>One finding about a configuration, located by file and line like apachectl -t.</summary>
public sealed record ConfigDiagnostic(DiagnosticSeverity Severity, string File, int Line, string Message)
{
    public static ConfigDiagnostic Error(string file, int line, string message) => new(DiagnosticSeverity.Error, file, line, message);
    public static ConfigDiagnostic Warning(string file, int line, string message) => new(DiagnosticSeverity.Warning, file, line, message);

    /// <summary>
    /// An error about something a tenant controls (its key file): it takes its own vhost out of
    /// service (that TLS vhost's handshakes fail), never the server — one tenant's chmod must not
    /// keep every other site from starting or reloading. Test-ItkConfig reports it as an error.
    /// </summary>
    public bool OnlyItsVhost { get; init; }

    public override string ToString() => $"{File}:{Line}: {Severity.ToString().ToLowerInvariant()}: {Message}";
}

/// <summary>Thrown where a configuration cannot be used at all; carries every error found.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(IReadOnlyList<ConfigDiagnostic> errors)
        : base(string.Join(Environment.NewLine, errors.Select(e => e.ToString())))
    {
        Errors = errors;
    }

    public IReadOnlyList<ConfigDiagnostic> Errors { get; }
}
