package app

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion completes alrl's commands and flags (from
// --generate-bash-completion) and, after -c / --config, the shipped
// configs (from alrl list configs) and files.
const bashCompletion = `# alrl bash completion: source <(alrl completion bash)
_alrl_complete() {
    local cur prev opts
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ "$prev" == "-c" || "$prev" == "--config" ]]; then
        opts=$(alrl list configs 2>/dev/null)
        COMPREPLY=($(compgen -W "$opts" -- "$cur") $(compgen -f -- "$cur"))
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        opts=$(alrl "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        opts=$(alrl "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -F _alrl_complete alrl
`

func completionCmd() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "SHELL",
		Description: `Completes commands, flags and, after -c, the shipped configs. Load it with

   source <(alrl completion bash)                      # in ~/.bashrc
   autoload -U +X bashcompinit && bashcompinit; source <(alrl completion zsh)   # in ~/.zshrc
   alrl completion fish > ~/.config/fish/completions/alrl.fish`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash", "zsh": // zsh reads the bash script through bashcompinit
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.App.Writer, s)
				return err
			default:
				return fmt.Errorf("completion: name the shell: bash, zsh or fish")
			}
		},
	}
}
