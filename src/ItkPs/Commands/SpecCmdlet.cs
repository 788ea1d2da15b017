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

    /// <summary>
    /// A tree without server/mpm/experimental (one that moved its MPMs) gets that folder
    /// made in %prep for itk: worth the operator's eye, since the ITK 2.2 series was written
    /// for the upstream layout.
    /// </summary>
    protected void WarnWhenTheTreeHasNoExperimental(SpecEditResult edit)
    {
        if (!edit.Tree.HasExperimental) WriteWarning(edit.Layout);
    }
}
