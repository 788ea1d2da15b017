using System.Management.Automation;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>The mpm-itk series parameters shared by Edit-ItkSpec and Build-ItkRpm.</summary>
public abstract class SpecCmdlet : PSCmdlet
{
    /// <summary>The mpm-itk 2.2 series version, used in the patch URLs.</summary>
    [Parameter]
    [ValidatePattern(@"^\d+\.\d+\.\d+-\d+$")]
    public string ItkVersion { get; set; } = "2.2.17-01";

    /// <summary>The number of the first ITK patch tag; the ten patches take consecutive numbers.</summary>
    [Parameter]
    [ValidateRange(1, 99990)]
    public int PatchNumberBase { get; set; } = 402;

    protected SpecEditor Editor => new(ItkVersion, PatchNumberBase);

    protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);
}
