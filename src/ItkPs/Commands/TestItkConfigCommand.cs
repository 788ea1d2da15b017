using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>
/// Test-ItkConfig: the checks of apachectl -t with mpm-itk, as objects: syntax errors,
/// unknown directives, users and groups, uid/gid 0, LimitUIDRange, DocumentRoots, duplicate names.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "ItkConfig")]
[OutputType(typeof(ConfigDiagnostic), typeof(bool))]
public sealed class TestItkConfigCommand : ItkCmdlet
{
    /// <summary>A main configuration file to test instead of the config root's itkps.conf.</summary>
    [Parameter(Position = 0)]
    [Alias("ConfigPath")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Return only $true (no errors) or $false.</summary>
    [Parameter] public SwitchParameter Quiet { get; set; }

    protected override void EndProcessing()
    {
        ServerConfig config;
        if (Path is not null)
        {
            string file = ResolvePath(Path);
            if (!File.Exists(file))
            {
                Fail(ErrorIds.ConfigNotFound, ErrorCategory.ObjectNotFound, file, $"-Path '{file}' does not exist.");
                return;
            }
            config = new ConfigReader().Read(file);
        }
        else config = Root.Read();

        var all = config.Diagnostics.Concat(ConfigValidator.Validate(config, Accounts)).ToList();
        if (Quiet) WriteObject(!all.Any(d => d.Severity == DiagnosticSeverity.Error));
        else WriteObject(all, enumerateCollection: true);
    }
}
