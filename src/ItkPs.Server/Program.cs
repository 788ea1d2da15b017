using System.CommandLine;

namespace ItkPs.Server;

/// <summary>
/// itkd: one executable, three roles. Operators run "itkd --config FILE" (the master, as root);
/// the master starts the other roles with the hidden --role option, handing each its snapshot and
/// channel as descriptors.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var config = new Option<string?>("--config") { Description = "Main configuration file (Apache syntax). Required." };
        var control = new Option<string>("--control-socket") { Description = "Root-only status socket, in a directory only root can change.", DefaultValueFactory = _ => "/run/itkd/itkd.sock" };
        var pidFile = new Option<string?>("--pid-file") { Description = "Write the master's pid here." };
        var idle = new Option<int>("--worker-idle-timeout") { Description = "Seconds a worker may sit without connections before it is retired (ItkdIdleTimeout in the configuration, per vhost or server-wide, wins).", DefaultValueFactory = _ => 30 };
        var minWorkers = new Option<int>("--min-workers") { Description = "Workers a user's pool starts with.", DefaultValueFactory = _ => 1 };
        var maxWorkers = new Option<int>("--max-workers") { Description = "Workers a busy user's pool may grow to.", DefaultValueFactory = _ => 1 };
        var phpCgi = new Option<string>("--php", "--php-cgi")
        {
            Description = "The PHP each worker runs as its user: php-fpm (per-request php_value, the default when installed) or php-cgi.",
            DefaultValueFactory = _ => DefaultPhp(),
        };
        var phpChildren = new Option<int>("--php-children") { Description = "PHP processes per worker: php-fpm's pm.max_children, or php-cgi children.", DefaultValueFactory = _ => 4 };
        var dispatcherUser = new Option<string>("--dispatcher-user") { Description = "The dispatcher's own system account, which no vhost may use (created when missing).", DefaultValueFactory = _ => "itkd" };
        var role = new Option<string>("--role") { Hidden = true, DefaultValueFactory = _ => "master" };
        var pool = new Option<int>("--pool") { Hidden = true, DefaultValueFactory = _ => -1 };

        var root = new RootCommand("itkd: serves each virtual host as its own Unix user (privilege-separated server).")
        {
            config, control, pidFile, idle, minWorkers, maxWorkers, phpCgi, phpChildren, dispatcherUser, role, pool,
        };
        root.SetAction(parsed =>
        {
            string r = parsed.GetValue(role)!;
            try
            {
                switch (r)
                {
                    case "master":
                        if (parsed.GetValue(config) is not { } file) { Console.Error.WriteLine("itkd: --config FILE is required."); return 2; }
                        Privileged.Spawner.RetitleMaster(args);
                        int min = Math.Max(1, parsed.GetValue(minWorkers));
                        return new Master(new MasterOptions(Path.GetFullPath(file), Path.GetFullPath(parsed.GetValue(control)!), parsed.GetValue(pidFile),
                            Math.Max(1, parsed.GetValue(idle)), min, Math.Max(min, parsed.GetValue(maxWorkers)),
                            parsed.GetValue(phpCgi)!, Math.Max(1, parsed.GetValue(phpChildren)), parsed.GetValue(dispatcherUser)!)).Run();
                    case "dispatcher": return new Dispatcher().Run();
                    case "worker": return new Worker(parsed.GetValue(pool)).Run();
                    default: Console.Error.WriteLine($"itkd: unknown role {r}"); return 2;
                }
            }
            catch (Privileged.PrivilegeException e)
            {
                Log.Write(LogEvent.ConfigError, $"fatal: {e.Message}");
                return 3;
            }
        });
        return root.Parse(args).Invoke();
    }

    /// <summary>The newest installed php-fpm (it takes mod_php's per-directory settings per request); php-cgi when there is none.</summary>
    private static string DefaultPhp()
    {
        var fpm = Directory.Exists("/usr/sbin") ? Directory.GetFiles("/usr/sbin", "php-fpm*").Order(StringComparer.Ordinal).LastOrDefault() : null;
        return fpm ?? "/usr/bin/php-cgi";
    }
}
