using ItkPs.Core.Config;
using ItkPs.Core.Isolation;

namespace ItkPs;

/// <summary>One finding of Test-ItkConfig, located as apachectl -t locates it.</summary>
public sealed class ConfigDiagnosticInfo
{
    internal ConfigDiagnosticInfo(ConfigDiagnostic d)
    {
        Severity = d.Severity;
        File = d.File;
        Line = d.Line;
        Message = d.Message;
    }

    /// <summary>Error (Apache or itkd would refuse the configuration) or Warning.</summary>
    public DiagnosticSeverity Severity { get; }
    public string File { get; }
    public int Line { get; }
    public string Message { get; }

    public override string ToString() => $"{File}:{Line}: {Severity.ToString().ToLowerInvariant()}: {Message}";
}

/// <summary>One finding of Test-ItkVhost: a path another tenant could read or change, and the fix.</summary>
public sealed class IsolationFindingInfo
{
    internal IsolationFindingInfo(IsolationFinding f)
    {
        Vhost = f.Vhost;
        Path = f.Path;
        Problem = f.Problem;
        Sensitive = f.Sensitive;
        Severity = f.Severity;
        Detail = f.Detail;
        Fix = f.Fix;
    }

    public string Vhost { get; }
    public string Path { get; }
    public IsolationProblem Problem { get; }
    /// <summary>True for secrets: .ht* files, PHP, configuration files.</summary>
    public bool Sensitive { get; }
    /// <summary>High for secrets, unusable and world-writable paths; else Medium.</summary>
    public string Severity { get; }
    public string Detail { get; }
    /// <summary>The command that removes the problem.</summary>
    public string Fix { get; }

    public override string ToString() => $"{Path}: {Problem}";
}

/// <summary>One path Set-ItkUser -FixPermissions changed: owner and mode before and after.</summary>
public sealed class PermissionChangeInfo
{
    internal PermissionChangeInfo(PermissionChange c)
    {
        Path = c.Path;
        OldOwner = c.OldOwner;
        NewOwner = c.NewOwner;
        OldMode = c.OldMode;
        NewMode = c.NewMode;
    }

    public string Path { get; }
    /// <summary>user:group before and after.</summary>
    public string OldOwner { get; }
    public string NewOwner { get; }
    /// <summary>Octal permission bits before and after, e.g. 0644 and 0640.</summary>
    public string OldMode { get; }
    public string NewMode { get; }

    public override string ToString() => Path;
}
