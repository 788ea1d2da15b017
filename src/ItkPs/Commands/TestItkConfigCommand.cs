using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>Checks the configuration as apachectl -t would with mpm-itk, and reports findings as objects.</summary>
/// <remarks>
/// <para>Reports syntax errors, unknown directives (warnings), users and groups that do not exist, uid or gid 0, ids outside LimitUIDRange/LimitGIDRange, missing DocumentRoots, a ServerName used twice on one address, MaxClientsVHost not above 0 and NiceValue outside -20..19. Each finding has Severity, File, Line and Message; the line is the directive's (AssignUserID, NiceValue, ...), else the &lt;VirtualHost&gt;'s.</para>
/// </remarks>
/// <example>
/// <code>Test-ItkConfig | Where-Object Severity -eq Error</code>
/// <para>Only the errors.</para>
/// </example>
/// <example>
/// <code>if (-not (Test-ItkConfig -Quiet)) { throw 'fix the configuration first' }</code>
/// <para>A guard in a deployment script.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "ItkConfig")]
[OutputType(typeof(ConfigDiagnosticInfo), typeof(bool))]
public sealed class TestItkConfigCommand : ItkCmdlet
{
    /// <summary>A main configuration file to check instead of the config root's itkps.conf.</summary>
    [Parameter(Position = 0)]
    [Alias("ConfigPath")]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "the config root's itkps.conf")]
    public string? Path { get; set; }

    /// <summary>Returns only $true when there is no error, else $false.</summary>
    [Parameter] public SwitchParameter Quiet { get; set; }

    protected override void EndProcessing()
    {
        ServerConfig config;
        if (Path is not null)
        {
            string file = ResolvePath(Path);
            if (!File.Exists(file))
            {
                WriteError(Errors.FileNotFound(ErrorIds.ConfigNotFound, file, $"-Path '{file}' does not exist."));
                return;
            }
            config = new ConfigReader().Read(file);
        }
        else config = Root.Read();

        var all = config.Diagnostics.Concat(ConfigValidator.Validate(config, Accounts)).ToList();
        if (Quiet) WriteObject(!all.Any(d => d.Severity == DiagnosticSeverity.Error));
        else foreach (var d in all) WriteObject(new ConfigDiagnosticInfo(d));
    }
}
