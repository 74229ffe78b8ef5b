"""What people see in Discord: messages, statuses, buttons, pages, modals."""
